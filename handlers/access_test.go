package handlers

import (
	"context"
	"encoding/base64"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

var param = regexp.MustCompile(`:[a-z]+`)

// routes lists the portal's own routes (not the static files or the API,
// see apiRoutes), with their parameters filled in.
func routes(app *fiber.App) []fiber.Route {
	var out []fiber.Route
	for _, r := range app.GetRoutes(true) {
		if r.Method == fiber.MethodHead || r.Method == fiber.MethodConnect || strings.HasPrefix(r.Path, "/static") || strings.HasPrefix(r.Path, "/api") || r.Path == "/" && r.Method != fiber.MethodGet {
			continue
		}
		if r.Method != fiber.MethodGet && r.Method != fiber.MethodPost {
			continue
		}
		r.Path = param.ReplaceAllStringFunc(r.Path, func(p string) string {
			if p == ":id" {
				return "1"
			}
			return "x"
		})
		out = append(out, r)
	}
	return out
}

func TestEveryRouteRequiresSignIn(t *testing.T) {
	app, _ := testApp(t)
	checked := 0
	for _, r := range routes(app) {
		if isPublic(r.Path) {
			continue
		}
		checked++
		resp, _ := do(t, app, form(r.Method, r.Path, url.Values{}))
		switch {
		case r.Method == fiber.MethodGet && resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(resp.Header.Get("Location"), "/login"):
		case r.Method != fiber.MethodGet && resp.StatusCode == http.StatusUnauthorized:
		default:
			t.Errorf("%s %s without a session: %d %s", r.Method, r.Path, resp.StatusCode, resp.Header.Get("Location"))
		}
		// htmx requests are sent to the sign-in page too.
		req := form(r.Method, r.Path, url.Values{})
		req.Header.Set("HX-Request", "true")
		resp, _ = do(t, app, req)
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("HX-Redirect"), "/login") {
			t.Errorf("htmx %s %s without a session: %d %q", r.Method, r.Path, resp.StatusCode, resp.Header.Get("HX-Redirect"))
		}
	}
	if checked < 20 {
		t.Fatalf("only %d routes checked", checked)
	}
}

func TestEveryMutatingRouteChecksCSRF(t *testing.T) {
	app, _ := testApp(t)
	cl := signedIn(t, app)
	checked := 0
	for _, r := range routes(app) {
		if r.Method == fiber.MethodGet || isPublic(r.Path) {
			continue
		}
		checked++
		for _, token := range []string{"", "wrong-token"} {
			resp, _ := cl.do(form(r.Method, r.Path, url.Values{"csrf": {token}}))
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s %s with CSRF token %q: %d", r.Method, r.Path, token, resp.StatusCode)
			}
		}
		// The header htmx sends counts, and so does a wrong one.
		req := form(r.Method, r.Path, url.Values{})
		req.Header.Set("X-Csrf-Token", "wrong-token")
		if resp, _ := cl.do(req); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s %s with a wrong X-Csrf-Token: %d", r.Method, r.Path, resp.StatusCode)
		}
	}
	if checked < 12 {
		t.Fatalf("only %d mutating routes checked", checked)
	}
	// The sign-in forms use a double-submit token.
	anon := newClient(t, app)
	if resp, _ := anon.post("/login", url.Values{"username": {"admin"}, "password": {testPassword}, "csrf": {"forged"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("login without its token: %d", resp.StatusCode)
	}
}

func TestSessionCookieFlagsAndLogout(t *testing.T) {
	app, _ := testApp(t)
	cl := newClient(t, app)
	cl.get("/login")
	resp, _ := cl.post("/login", url.Values{"username": {"admin"}, "password": {testPassword}, "next": {"/images"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/images" {
		t.Fatalf("login: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Path != "/" || session.MaxAge <= 0 || session.Secure {
		t.Fatalf("session cookie %+v", session)
	}
	// Behind TLS the cookie is Secure.
	tls := newClient(t, app)
	tls.get("/login")
	req := form("POST", "/login", url.Values{"username": {"admin"}, "password": {testPassword}, "csrf": {tls.csrf}})
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, _ = tls.do(req)
	if c := tls.cookies[sessionCookie]; c == nil || !c.Secure {
		t.Fatalf("session cookie over TLS: %+v", c)
	}

	cl.get("/specs")
	stolen := *cl.cookies[sessionCookie]
	if resp, _ := cl.post("/logout", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	replay := newClient(t, app)
	replay.cookies[sessionCookie] = &stolen
	if resp, _ := replay.get("/specs"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Fatalf("a signed-out session still works: %d", resp.StatusCode)
	}
}

func TestWrongPasswordAndRateLimit(t *testing.T) {
	app, _ := testApp(t)
	cl := newClient(t, app)
	for i := 0; i < loginFailLimit; i++ {
		resp := cl.login("admin", "wrong password")
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d", i, resp.StatusCode)
		}
	}
	_, doc := cl.post("/login", url.Values{"username": {"admin"}, "password": {testPassword}})
	if got := doc.Find(`[data-testid="login-error"]`).Text(); !strings.Contains(got, "Too many failed sign-ins") {
		t.Fatalf("after %d failures: %q", loginFailLimit, got)
	}
}

// Behind a trusted reverse proxy, the rate limit counts per client named in
// X-Forwarded-For, and what a client writes at the front of that header
// itself does not get it a fresh allowance. Without a trusted proxy the
// header is ignored.
func TestRateLimitPerClientBehindTrustedProxy(t *testing.T) {
	failFrom := func(app *fiber.App, xff string) *client {
		cl := newClient(t, app)
		cl.ip = xff
		for i := 0; i < loginFailLimit; i++ {
			cl.login("admin", "wrong password")
		}
		return cl
	}
	limited := func(app *fiber.App, xff string) bool {
		cl := newClient(t, app)
		cl.ip = xff
		return cl.login("admin", testPassword).StatusCode == http.StatusTooManyRequests
	}

	// app.Test's peer is 0.0.0.0: make it the proxy.
	proxies, err := ParseTrustedProxies("0.0.0.0, 10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	app, _ := newTestApp(t, true, func(d *Deps) { d.TrustedProxies = proxies })
	failFrom(app, "192.0.2.1")
	if !limited(app, "192.0.2.1") {
		t.Fatal("the failing client is not limited")
	}
	if !limited(app, "198.51.100.7, 192.0.2.1") {
		t.Fatal("a spoofed first X-Forwarded-For address got a fresh allowance")
	}
	if !limited(app, "192.0.2.1, 10.1.2.3") {
		t.Fatal("a second trusted proxy hid the client")
	}
	if limited(app, "192.0.2.2") {
		t.Fatal("another client behind the proxy is limited too")
	}

	// Not trusted: every request is the peer, whatever the header says.
	app, _ = newTestApp(t, true)
	failFrom(app, "192.0.2.1")
	if !limited(app, "192.0.2.2") {
		t.Fatal("an untrusted X-Forwarded-For chose the rate-limit bucket")
	}

	if _, err := ParseTrustedProxies("10.0.0.0/8, proxy.example.com"); err == nil || !strings.Contains(err.Error(), "proxy.example.com") {
		t.Fatalf("a host name was accepted as a trusted proxy: %v", err)
	}
}

func TestFirstRunSetupOnlyWhileNoAdministrator(t *testing.T) {
	app, store := newTestApp(t, false)
	cl := newClient(t, app)
	if resp, _ := cl.get("/specs"); resp.Header.Get("Location") != "/setup" {
		t.Fatalf("first visit goes to %q", resp.Header.Get("Location"))
	}
	cl.get("/setup")
	if resp, _ := cl.post("/setup", url.Values{"username": {"root"}, "password": {"short"}, "confirm": {"short"}}); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("short password: %d", resp.StatusCode)
	}
	resp, _ := cl.post("/setup", url.Values{"username": {"root"}, "password": {"long enough"}, "confirm": {"long enough"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/specs" {
		t.Fatalf("setup: %d", resp.StatusCode)
	}
	if resp, _ := cl.get("/specs"); resp.StatusCode != http.StatusOK {
		t.Fatalf("not signed in after setup: %d", resp.StatusCode)
	}
	other := newClient(t, app)
	other.get("/login")
	other.post("/setup", url.Values{"username": {"intruder"}, "password": {"long enough"}, "confirm": {"long enough"}})
	if _, err := store.GetAdminByUsername(context.Background(), "intruder"); err == nil {
		t.Fatal("setup ran twice")
	}
}

func TestPullSecretIsWriteOnlyAndValidated(t *testing.T) {
	app, store := testApp(t)
	cl := signedIn(t, app)
	const marker = "MARKER-pull-secret-5f3a"
	auth := base64.StdEncoding.EncodeToString([]byte("robot:" + marker))
	secret := `{"auths":{"registry.example.com":{"auth":"` + auth + `"}}}`
	if resp, _ := cl.post("/settings/secrets", url.Values{"name": {"team-registry"}, "content": {secret}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d", resp.StatusCode)
	}
	resp, doc := cl.post("/settings/secrets", url.Values{"name": {"broken"}, "content": {`{"auths": "` + marker + `"`}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(doc.Find(`[data-testid="secret-content-errors"]`).Text(), "not valid JSON") {
		t.Fatalf("invalid secret: %d", resp.StatusCode)
	}
	for _, page := range []string{"/settings/secrets", "/specs/new", "/images"} {
		_, doc := cl.get(page)
		html, _ := doc.Html()
		if strings.Contains(html, marker) || strings.Contains(html, auth) {
			t.Errorf("%s shows the secret", page)
		}
	}
	html, _ := doc.Html()
	if strings.Contains(html, marker) {
		t.Error("the error page echoes the secret")
	}
	p, err := store.GetPullSecret(context.Background(), "team-registry")
	if err != nil || strings.Contains(string(p.Sealed), marker) || strings.Contains(string(p.Sealed), auth) {
		t.Fatalf("stored in clear: %v", err)
	}
	_, doc = cl.get("/specs/new")
	if doc.Find(`select[name="pullSecret"] option[value="team-registry"]`).Length() != 1 {
		t.Error("the spec form does not offer the secret")
	}
}

func TestRegistrySettingsAndTestConnection(t *testing.T) {
	app, _ := testApp(t)
	cl := signedIn(t, app)
	const marker = "MARKER-registry-password-91c2"

	// A registry with basic auth.
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Docker-Distribution-Api-Version", "registry/2.0")
		if u, p, ok := r.BasicAuth(); !ok || u != "robot" || p != marker {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	notRegistry := httptest.NewServer(http.NotFoundHandler())
	defer notRegistry.Close()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()

	test := func(h, user, pw string) string {
		req := form("POST", "/settings/registry/test", url.Values{"mode": {"external"}, "host": {h}, "username": {user}, "password": {pw}, "insecure": {"on"}})
		req.Header.Set("HX-Request", "true")
		req.Header.Set("X-Csrf-Token", cl.csrf)
		_, doc := cl.do(req)
		return doc.Find(`[data-testid="registry-test-result"]`).Text()
	}
	if got := test(host, "robot", marker); !strings.Contains(got, "accepted") {
		t.Errorf("good credentials: %q", got)
	}
	if got := test(host, "robot", "wrong"); !strings.HasPrefix(got, "authentication:") {
		t.Errorf("bad credentials: %q", got)
	}
	if got := test(host, "", ""); !strings.HasPrefix(got, "authentication:") {
		t.Errorf("no credentials: %q", got)
	}
	if got := test(strings.TrimPrefix(notRegistry.URL, "http://"), "", ""); !strings.HasPrefix(got, "not a registry:") {
		t.Errorf("not a registry: %q", got)
	}
	if got := test(closedAddr, "", ""); !strings.HasPrefix(got, "unreachable:") {
		t.Errorf("closed port: %q", got)
	}
	// Link-local and metadata addresses are refused before any connection;
	// a server that is not a registry is reported without what it answered.
	for _, h := range []string{"169.254.169.254", "169.254.169.254:80", "169.254.1.2:5000", "100.100.100.200"} {
		if got := test(h, "", ""); !strings.HasPrefix(got, "refused:") {
			t.Errorf("%s: %q", h, got)
		}
	}
	if got := test(strings.TrimPrefix(notRegistry.URL, "http://"), "", ""); strings.Contains(got, "404") || strings.Contains(got, "Not Found") {
		t.Errorf("the answer quotes what answered: %q", got)
	}
	if got := test("no-such-host.invalid:5000", "", ""); !strings.HasPrefix(got, "DNS:") {
		t.Errorf("unknown host: %q", got)
	}

	// Save: the password is stored sealed and never shown; an empty password keeps it.
	if resp, _ := cl.post("/settings/registry", url.Values{"mode": {"external"}, "host": {host}, "username": {"robot"}, "password": {marker}, "insecure": {"on"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d", resp.StatusCode)
	}
	_, doc := cl.get("/settings/registry")
	html, _ := doc.Html()
	if strings.Contains(html, marker) {
		t.Fatal("the settings page shows the password")
	}
	if v, _ := doc.Find(`[data-testid="registry-host"]`).Attr("value"); v != host {
		t.Fatalf("host %q", v)
	}
	if got := test(host, "robot", ""); !strings.Contains(got, "accepted") {
		t.Errorf("the stored password was not used: %q", got)
	}
	// The list warns when the saved registry stops answering.
	reg.Close()
	cl.post("/settings/registry", url.Values{"mode": {"external"}, "host": {closedAddr}, "insecure": {"on"}})
	if _, doc := cl.get("/specs"); doc.Find(`[data-testid="registry-warning"]`).Length() != 1 {
		t.Error("no warning for a registry that does not answer")
	}
	resp, doc := cl.post("/settings/registry", url.Values{"mode": {"external"}, "host": {"https://x"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(doc.Find(`[data-testid="registry-host-errors"]`).Text(), "without a scheme") {
		t.Errorf("a URL with a scheme: %d", resp.StatusCode)
	}
}
