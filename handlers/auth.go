package handlers

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"golang.org/x/crypto/bcrypt"

	"imagebuilder/db"
	"imagebuilder/views"
)

const (
	sessionCookie  = "imagebuilder_session"
	preCSRFCookie  = "imagebuilder_csrf" // double-submit token for the sign-in forms
	sessionMaxAge  = 12 * time.Hour
	minPasswordLen = 8
	maxPasswordLen = 72 // bcrypt reads no further
)

// LoadSessionKeys reads the cookie signing and encryption keys from path,
// creating them on first start so a restart does not sign anyone out.
func LoadSessionKeys(path string) ([]byte, error) {
	keys, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		keys = append(securecookie.GenerateRandomKey(64), securecookie.GenerateRandomKey(32)...)
		if len(keys) != 96 {
			return nil, errors.New("cannot generate session keys")
		}
		return keys, os.WriteFile(path, keys, 0o600)
	}
	if err != nil {
		return nil, err
	}
	if len(keys) != 96 {
		return nil, fmt.Errorf("%s: want 96 bytes of keys, found %d", path, len(keys))
	}
	return keys, nil
}

// HashPassword is the slow KDF for administrator passwords.
func HashPassword(pw string) (string, error) {
	switch {
	case len(pw) < minPasswordLen:
		return "", fmt.Errorf("the password needs at least %d characters", minPasswordLen)
	case len(pw) > maxPasswordLen:
		return "", fmt.Errorf("the password is longer than %d bytes", maxPasswordLen)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), passwordCost)
	return string(h), err
}

// passwordCost is bcrypt's cost for administrators' passwords.
const passwordCost = 12

// dummyHash keeps a sign-in for an unknown user as slow as for a known one:
// a bcrypt hash of passwordCost, written out and not computed at start-up,
// since this binary starts again for every build step (Buildah's re-exec)
// and each computation took a quarter of a second.
var dummyHash = []byte("$2a$12$2bP8IMTEzeGe66hwujUPEuK4h5/DsUZpAVdF5Q8HPOJmLHEwWYyqa")

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // the system has no randomness: nothing is safe
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// auth holds the session codec and the sign-in rate limiter.
type auth struct {
	store   *sessions.CookieStore
	limiter loginLimiter
}

func newAuth(keys []byte) *auth {
	if len(keys) != 96 {
		keys = append(securecookie.GenerateRandomKey(64), securecookie.GenerateRandomKey(32)...)
	}
	st := sessions.NewCookieStore(keys[:64], keys[64:])
	st.MaxAge(int(sessionMaxAge / time.Second))
	return &auth{store: st, limiter: loginLimiter{fails: map[string][]time.Time{}}}
}

func (a *auth) encode(sessionID string) (string, error) {
	return securecookie.EncodeMulti(sessionCookie, sessionID, a.store.Codecs...)
}

func (a *auth) decode(value string) (string, bool) {
	var id string
	if err := securecookie.DecodeMulti(sessionCookie, value, &id, a.store.Codecs...); err != nil {
		return "", false
	}
	return id, true
}

func secureRequest(c *fiber.Ctx) bool {
	return c.Protocol() == "https" || c.Get("X-Forwarded-Proto") == "https"
}

func (h *handler) setSessionCookie(c *fiber.Ctx, value string, maxAge int) {
	c.Cookie(&fiber.Cookie{
		Name: sessionCookie, Value: value, Path: "/", MaxAge: maxAge,
		HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode, Secure: secureRequest(c),
	})
}

// currentSession returns the signed-in session, if any.
func (h *handler) currentSession(c *fiber.Ctx) (db.Session, bool) {
	id, ok := h.auth.decode(c.Cookies(sessionCookie))
	if !ok {
		return db.Session{}, false
	}
	s, err := h.DB.GetSession(c.UserContext(), id)
	return s, err == nil
}

// isPublic lists what needs no session.
func isPublic(path string) bool {
	switch path {
	case "/login", "/setup", "/healthz", "/lang", "/favicon.ico":
		return true
	}
	return strings.HasPrefix(path, "/static/")
}

func isMutating(method string) bool {
	switch method {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions:
		return false
	}
	return true
}

// requireAdmin lets signed-in administrators through and checks the CSRF
// token of every mutating request; everyone else goes to sign in.
func (h *handler) requireAdmin(c *fiber.Ctx) error {
	if isPublic(c.Path()) {
		return c.Next()
	}
	s, ok := h.currentSession(c)
	if !ok {
		target := "/login"
		if n, err := h.DB.CountAdmins(c.UserContext()); err == nil && n == 0 {
			target = "/setup"
		} else if c.Method() == fiber.MethodGet {
			target += "?next=" + url.QueryEscape(string(c.Request().URI().RequestURI()))
		}
		if c.Get("HX-Request") == "true" {
			c.Set("HX-Redirect", target)
			return c.SendStatus(fiber.StatusUnauthorized)
		}
		if c.Method() != fiber.MethodGet {
			return fiber.NewError(fiber.StatusUnauthorized, "sign in first")
		}
		return c.Redirect(target, fiber.StatusSeeOther)
	}
	if isMutating(c.Method()) {
		token := c.Get("X-Csrf-Token")
		if token == "" {
			token = c.FormValue("csrf")
		}
		if subtle.ConstantTimeCompare([]byte(token), []byte(s.CSRF)) != 1 {
			return fiber.NewError(fiber.StatusForbidden, "the form's security token is missing or out of date; reload the page and try again")
		}
	}
	if time.Since(s.LastSeen) > time.Minute {
		_ = h.DB.TouchSession(c.UserContext(), s.ID) // a missed touch only makes "last seen" older
	}
	c.Locals("session", s)
	// What the store writes on this request names this administrator.
	c.SetUserContext(db.WithActor(c.UserContext(), s.Username))
	return c.Next()
}

func sessionOf(c *fiber.Ctx) (db.Session, bool) {
	s, ok := c.Locals("session").(db.Session)
	return s, ok
}

// preCSRF returns the double-submit token for the sign-in forms, setting
// its cookie when needed.
func preCSRF(c *fiber.Ctx) string {
	tok := c.Cookies(preCSRFCookie)
	if len(tok) < 32 {
		tok = randomToken()
		c.Cookie(&fiber.Cookie{Name: preCSRFCookie, Value: tok, Path: "/", HTTPOnly: true,
			SameSite: fiber.CookieSameSiteStrictMode, Secure: secureRequest(c), MaxAge: 3600})
	}
	return tok
}

func checkPreCSRF(c *fiber.Ctx) bool {
	cookie, form := c.Cookies(preCSRFCookie), c.FormValue("csrf")
	return len(cookie) >= 32 && subtle.ConstantTimeCompare([]byte(cookie), []byte(form)) == 1
}

func (h *handler) loginPage(c *fiber.Ctx) error {
	if n, err := h.DB.CountAdmins(c.UserContext()); err == nil && n == 0 {
		return c.Redirect("/setup", fiber.StatusSeeOther)
	}
	return h.renderLogin(c, fiber.StatusOK, "", "")
}

func (h *handler) renderLogin(c *fiber.Ctx, status int, username, msg string) error {
	l := h.layout(c, "", "")
	l.Title = l.Loc.T("login.title")
	l.CSRF = preCSRF(c)
	return render(c, status, l, views.Login(views.LoginForm{Layout: l, Username: username, Next: safeNext(c.Query("next", c.FormValue("next"))), Error: msg}))
}

func (h *handler) login(c *fiber.Ctx) error {
	loc := locOf(c)
	username := utils.CopyString(strings.TrimSpace(c.FormValue("username")))
	if !checkPreCSRF(c) {
		return h.renderLogin(c, fiber.StatusForbidden, username, loc.T("login.csrf"))
	}
	client := h.clientIP(c)
	// Reserved before the slow hash: parallel guesses cannot all get in.
	if wait := h.auth.limiter.reserve(client); wait > 0 {
		return h.renderLogin(c, fiber.StatusTooManyRequests, username, loc.N("login.limited", int(wait.Seconds())+1))
	}
	admin, err := h.DB.GetAdminByUsername(c.UserContext(), username)
	hash := dummyHash
	if err == nil {
		hash = []byte(admin.PasswordHash)
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(c.FormValue("password"))) != nil || err != nil {
		return h.renderLogin(c, fiber.StatusUnauthorized, username, loc.T("login.wrong"))
	}
	h.auth.limiter.forgive(client)
	if err := h.startSession(c, admin); err != nil {
		return err
	}
	return c.Redirect(safeNext(c.FormValue("next")), fiber.StatusSeeOther)
}

func (h *handler) startSession(c *fiber.Ctx, admin db.Admin) error {
	now := time.Now()
	ua := utils.CopyString(c.Get(fiber.HeaderUserAgent))
	if len(ua) > 200 {
		ua = ua[:200]
	}
	s := db.Session{ID: randomToken(), AdminID: admin.ID, Username: admin.Username, CSRF: randomToken(), CreatedAt: now, ExpiresAt: now.Add(sessionMaxAge),
		Address: h.clientIP(c), UserAgent: strings.ToValidUTF8(ua, "")}
	if err := h.DB.CreateSession(c.UserContext(), s); err != nil {
		return err
	}
	value, err := h.auth.encode(s.ID)
	if err != nil {
		return err
	}
	h.setSessionCookie(c, value, int(sessionMaxAge/time.Second))
	return nil
}

func (h *handler) logout(c *fiber.Ctx) error {
	if s, ok := sessionOf(c); ok {
		if err := h.DB.DeleteSession(c.UserContext(), s.ID); err != nil {
			return err
		}
	}
	h.setSessionCookie(c, "", -1)
	return redirectAfterPost(c, "/login")
}

func (h *handler) setupPage(c *fiber.Ctx) error {
	if n, err := h.DB.CountAdmins(c.UserContext()); err != nil || n > 0 {
		return c.Redirect("/login", fiber.StatusSeeOther)
	}
	return h.renderSetup(c, fiber.StatusOK, "", "")
}

func (h *handler) renderSetup(c *fiber.Ctx, status int, username, msg string) error {
	l := h.layout(c, "", "")
	l.Title = l.Loc.T("setup.title")
	l.CSRF = preCSRF(c)
	return render(c, status, l, views.Setup(views.LoginForm{Layout: l, Username: username, Error: msg}))
}

func (h *handler) setup(c *fiber.Ctx) error {
	loc := locOf(c)
	username := utils.CopyString(strings.TrimSpace(c.FormValue("username")))
	if !checkPreCSRF(c) {
		return h.renderSetup(c, fiber.StatusForbidden, username, loc.T("login.csrf"))
	}
	pw := c.FormValue("password")
	switch {
	case username == "":
		return h.renderSetup(c, fiber.StatusUnprocessableEntity, username, loc.T("setup.username"))
	case pw != c.FormValue("confirm"):
		return h.renderSetup(c, fiber.StatusUnprocessableEntity, username, loc.T("setup.mismatch"))
	case len(pw) < minPasswordLen:
		return h.renderSetup(c, fiber.StatusUnprocessableEntity, username, loc.T("setup.short", minPasswordLen))
	case len(pw) > maxPasswordLen:
		return h.renderSetup(c, fiber.StatusUnprocessableEntity, username, loc.T("setup.long", maxPasswordLen))
	}
	hash, err := HashPassword(pw)
	if err != nil {
		return h.renderSetup(c, fiber.StatusUnprocessableEntity, username, err.Error())
	}
	admin, err := h.DB.CreateFirstAdmin(c.UserContext(), username, hash)
	if errors.Is(err, db.ErrConflict) {
		return c.Redirect("/login", fiber.StatusSeeOther)
	}
	if err != nil {
		return err
	}
	if err := h.startSession(c, admin); err != nil {
		return err
	}
	return c.Redirect("/specs", fiber.StatusSeeOther)
}

// loginLimiter allows 5 failed sign-ins per client in 5 minutes. An
// attempt is reserved before the (slow) password check and forgiven only
// when it succeeds, so parallel guesses count at once. It remembers at most
// maxLimitedClients clients; past that, the one whose last attempt is
// oldest is forgotten first.
type loginLimiter struct {
	mu    sync.Mutex
	fails map[string][]time.Time
	max   int // clients remembered; 0 means maxLimitedClients
}

const (
	loginFailLimit    = 5
	loginFailWindow   = 5 * time.Minute
	maxLimitedClients = 10000
)

func (l *loginLimiter) recent(client string, now time.Time) []time.Time {
	var keep []time.Time
	for _, t := range l.fails[client] {
		if now.Sub(t) < loginFailWindow {
			keep = append(keep, t)
		}
	}
	if len(keep) == 0 {
		delete(l.fails, client)
	} else {
		l.fails[client] = keep
	}
	return keep
}

// reserve counts an attempt of client as failed until release forgives
// it; when the client has used its allowance, it returns how long to wait
// and counts nothing.
func (l *loginLimiter) reserve(client string) (wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	r := l.recent(client, now)
	if len(r) >= loginFailLimit {
		return loginFailWindow - now.Sub(r[0])
	}
	if _, known := l.fails[client]; !known {
		l.makeRoom(now)
	}
	l.fails[client] = append(r, now)
	return 0
}

// makeRoom keeps the map within its bound: expired clients go first, then
// those whose last attempt is oldest.
func (l *loginLimiter) makeRoom(now time.Time) {
	limit := l.max
	if limit <= 0 {
		limit = maxLimitedClients
	}
	if len(l.fails) < limit {
		return
	}
	for c := range l.fails {
		l.recent(c, now)
	}
	for len(l.fails) >= limit {
		oldest, at := "", now
		for c, ts := range l.fails {
			if last := ts[len(ts)-1]; !last.After(at) {
				oldest, at = c, last
			}
		}
		delete(l.fails, oldest)
	}
}

// forgive drops every counted attempt of client (a successful sign-in).
func (l *loginLimiter) forgive(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, client)
}

// clients is how many clients the limiter remembers.
func (l *loginLimiter) clients() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.fails)
}

// ParseTrustedProxies reads a comma-separated list of IP addresses and CIDR
// prefixes.
func ParseTrustedProxies(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q is neither an IP address nor a CIDR prefix", f)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

func (h *handler) trusted(ip string) bool {
	a, err := netip.ParseAddr(strings.TrimSpace(ip))
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range h.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientIP is who sent the request, for the sign-in rate limit: the peer,
// or, when the peer is a trusted proxy, the nearest address in
// X-Forwarded-For that is not one. Addresses a client put at the front of
// the header itself are never reached, so they cannot dodge the limit.
func (h *handler) clientIP(c *fiber.Ctx) string {
	ip := c.Context().RemoteIP().String()
	if !h.trusted(ip) {
		return ip
	}
	// Copied: Fiber's header strings are reused after the request, and
	// this one becomes a key of the limiter's map.
	hops := strings.Split(utils.CopyString(c.Get(fiber.HeaderXForwardedFor)), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if _, err := netip.ParseAddr(hop); err != nil {
			break // garbage: stop at the last address we could trust
		}
		ip = hop
		if !h.trusted(hop) {
			break
		}
	}
	return ip
}
