// Package handlers is the portal's HTTP layer: thin Fiber handlers that
// parse a request, call the db and builder packages and render a view. It
// decides full page versus htmx partial in one place (render). It must not
// contain SQL or build logic.
package handlers

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/a-h/templ"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"

	"imagebuilder/builder/executor"
	"imagebuilder/builder/housekeeping"
	"imagebuilder/builder/logs"
	"imagebuilder/builder/message"
	"imagebuilder/builder/queue"
	"imagebuilder/builder/registry"
	"imagebuilder/builder/settings"
	"imagebuilder/builder/webhooks"
	"imagebuilder/db"
	"imagebuilder/static"
	"imagebuilder/views"
)

// Deps is what the portal works with.
type Deps struct {
	DB    *db.DB
	Queue *queue.Queue
	Logs  *logs.Store
	// Settings resolves the registry and the pull secrets.
	Settings *settings.Settings
	// SessionKeys signs and encrypts session cookies (96 bytes; see
	// LoadSessionKeys).
	SessionKeys []byte
	// Done closes when the server shuts down; live feeds end then.
	Done <-chan struct{}
	// Log receives request errors; nil discards them.
	Log *slog.Logger
	// Inspector says what a base image offers, for the form's checks; nil
	// turns them off.
	Inspector BaseInspector
	// DataDir is the data directory, whose free space the Storage page
	// shows next to MinFreeSpace, the floor below which builds wait.
	DataDir      string
	MinFreeSpace uint64
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is
	// believed (see ParseTrustedProxies); empty: none.
	TrustedProxies []netip.Prefix
	// Executor says where builds run, for the settings page.
	Executor views.ExecutorInfo
	// Can is what the executor's builds can do: the Containerfile
	// preview plans as the queue will (package plan), and the Builds page
	// says whether step limits are enforced.
	Can executor.Capabilities
	// Caches are the in-process engine's package caches, for the Storage
	// page; nil hides them.
	Caches Caches
	// CacheMaxSize is the caches' bound, for the Storage page (0: none).
	CacheMaxSize uint64
	// Housekeeping runs retention and garbage collection (nil: the
	// Storage page offers neither); Settings holds its schedule.
	Housekeeping *housekeeping.Keeper
	// Webhooks records and sends webhook deliveries (nil: the page is
	// off).
	Webhooks *webhooks.Dispatcher
	// Metrics serves Prometheus metrics at /metrics to API tokens (nil:
	// none).
	Metrics http.Handler
	// APIRate is how many API requests a token may make a minute (0:
	// DefaultAPIRate).
	APIRate int
	// RegistryBytes measures the embedded registry's blobs (nil: builds
	// push to an external registry).
	RegistryBytes func() int64
	// LayerCache counts the build pods' layer cache images in the
	// embedded registry and the bytes of their layers (nil: none kept).
	LayerCache func() (images int, bytes int64)
	// Workers is how many builds run at once (the Builds page says so; 0:
	// not said).
	Workers int
}

// Caches measures and clears the package managers' caches.
type Caches interface {
	Caches() []executor.CacheInfo
	ClearCaches() error
}

type handler struct {
	Deps
	probe *registryProbe
	auth  *auth
}

// New builds the Fiber app with every route.
func New(d Deps) *fiber.App {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Done == nil {
		d.Done = make(chan struct{})
	}
	h := &handler{Deps: d, probe: &registryProbe{current: d.Settings.Registry}, auth: newAuth(d.SessionKeys)}
	app := fiber.New(fiber.Config{
		DisableStartupMessage: true,
		ErrorHandler:          h.errorPage,
		ReadTimeout:           60 * time.Second,
		// Three package lists at their bounds take about 1.5 MB.
		BodyLimit:   2 << 20,
		IdleTimeout: 120 * time.Second,
	})
	app.Use(h.logRequests)
	app.Use(securityHeaders)
	app.Use("/static", filesystem.New(filesystem.Config{
		Root:   http.FS(static.Assets),
		MaxAge: 3600,
	}))
	// The API authenticates by token alone and never falls through to the
	// portal's sign-in.
	h.mountAPI(app)
	app.Use(h.requireAdmin)
	app.Get("/", func(c *fiber.Ctx) error { return c.Redirect("/specs", fiber.StatusSeeOther) })
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.SendString("ok") })
	// Browsers ask for /favicon.ico whatever the page links to.
	app.Get("/favicon.ico", func(c *fiber.Ctx) error {
		b, err := static.Files.ReadFile("favicon.svg")
		if err != nil {
			return err
		}
		c.Set(fiber.HeaderContentType, "image/svg+xml")
		c.Set(fiber.HeaderCacheControl, "public, max-age=86400")
		return c.Send(b)
	})
	app.Post("/lang", h.setLanguage)
	app.Get("/login", h.loginPage)
	app.Post("/login", h.login)
	app.Get("/setup", h.setupPage)
	app.Post("/setup", h.setup)
	app.Post("/logout", h.logout)

	app.Get("/specs", h.listSpecs)
	app.Get("/specs/new", h.newSpec)
	app.Post("/specs", h.createSpec)
	app.Post("/specs/check", h.checkFields)
	app.Post("/specs/preview", h.preview)
	app.Post("/specs/check-base", h.checkBase)
	app.Post("/specs/check-bases", h.checkBases)
	app.Get("/specs/:name", h.editSpec)
	app.Post("/specs/:name", h.updateSpec)
	app.Get("/specs/:name/jobs", h.specJobs)
	app.Get("/specs/:name/delete", h.confirmDelete)
	app.Post("/specs/:name/delete", h.deleteSpec)

	app.Get("/builds", h.buildsPage)
	app.Get("/jobs/:id", h.viewJob)
	app.Get("/jobs/:id/log", h.downloadLog)
	app.Get("/jobs/:id/events", h.jobEvents)
	app.Post("/jobs/:id/cancel", h.cancelJob)
	app.Post("/jobs/:id/retry", h.retryJob)
	app.Post("/jobs/:id/rebuild", h.rebuildJob)
	app.Get("/jobs/:id/packages", h.packageRows)
	app.Get("/jobs/:id/sbom.spdx.json", h.sbomSPDX)
	app.Get("/jobs/:id/sbom.cdx.json", h.sbomCycloneDX)
	app.Get("/jobs/:id/pinned.json", h.downloadPinned)
	app.Post("/jobs/:id/rebuild-pinned", h.rebuildPinned)
	app.Get("/specs/:name/compare", h.compare)
	app.Post("/specs/:name/active", h.activate)
	app.Post("/specs/:name/alias", h.setAlias)
	app.Post("/specs/:name/retention", h.saveSpecRetention)
	app.Post("/specs/:name/base-policy", h.setBasePolicy)
	app.Post("/settings/storage/retention", h.saveRetention)
	app.Post("/settings/storage/housekeeping", h.runHousekeeping)
	app.Post("/settings/storage/schedule", h.saveSchedule)
	app.Get("/settings/audit", h.auditLog)
	app.Get("/settings/storage", h.storage)
	app.Post("/settings/storage/clear-caches", h.clearCaches)
	app.Get("/settings/builds", h.showBuildSettings)
	app.Post("/settings/builds/sources", h.saveSources)
	app.Post("/settings/builds/limits", h.saveLimits)

	app.Get("/images", h.listImages)
	app.Post("/images", h.saveImage)
	app.Get("/images/:id", h.editImage)
	app.Post("/images/:id", h.saveImage)
	app.Post("/images/:id/delete", h.deleteImage)
	app.Get("/settings/secrets", h.listSecrets)
	app.Post("/settings/secrets", h.saveSecret)
	app.Post("/settings/secrets/:name/delete", h.deleteSecret)
	app.Get("/account", h.showAccount)
	app.Post("/account/password", h.changePassword)
	app.Post("/account/sessions/:handle/delete", h.endSession)
	app.Post("/account/sessions/delete-others", h.endOtherSessions)
	app.Post("/account/tokens", h.createToken)
	app.Post("/account/tokens/:id/delete", h.deleteToken)
	app.Get("/settings/webhooks", h.webhooksPage)
	app.Post("/settings/webhooks", h.addWebhook)
	app.Post("/settings/webhooks/:id/delete", h.deleteWebhook)
	app.Post("/settings/webhooks/deliveries/:id/redeliver", h.redeliver)
	app.Get("/settings/registry", h.showRegistry)
	app.Post("/settings/registry", h.saveRegistry)
	app.Post("/settings/registry/test", h.testRegistry)
	return app
}

// contentSecurityPolicy allows only the portal's own scripts, styles and
// connections (htmx and app.js need no inline script or eval), and no
// framing.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// logRequests writes one log line per request (not for static files or
// the health check): method, path without the query, status, duration
// and client. Headers, which carry tokens and cookies, are never logged.
func (h *handler) logRequests(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	path := c.Path()
	if strings.HasPrefix(path, "/static/") || path == "/healthz" {
		return err
	}
	status := c.Response().StatusCode()
	if err != nil {
		status = fiber.StatusInternalServerError
		var fe *fiber.Error
		switch {
		case errors.As(err, &fe):
			status = fe.Code
		case errors.Is(err, db.ErrNotFound):
			status = fiber.StatusNotFound
		case errors.Is(err, db.ErrConflict):
			status = fiber.StatusConflict
		}
	}
	h.Log.Info("request", "method", c.Method(), "path", path, "status", status,
		"duration_ms", time.Since(start).Milliseconds(), "client", h.clientIP(c))
	return err
}

// securityHeaders sets the headers every response carries.
func securityHeaders(c *fiber.Ctx) error {
	c.Set("Content-Security-Policy", contentSecurityPolicy)
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderReferrerPolicy, "same-origin")
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	return c.Next()
}

// --- Rendering: the one place that picks full page or partial ---------------

// isPartial is true for htmx requests that swap part of a page (not for
// boosted navigation, which swaps the whole body).
func isPartial(c *fiber.Ctx) bool {
	return c.Get("HX-Request") == "true" && c.Get("HX-Boosted") != "true"
}

// render writes content inside the layout, or alone for an htmx partial.
func render(c *fiber.Ctx, status int, l views.Layout, content templ.Component) error {
	comp := views.Page(l, content)
	if isPartial(c) {
		comp = views.Content(l, content)
	}
	c.Status(status)
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Vary("HX-Request")
	if c.Method() != fiber.MethodGet {
		// A form answered in place (its errors) keeps the address of the
		// page it was on, so a reload opens that page instead of landing
		// on an address that only takes posts.
		c.Set("HX-Push-Url", "false")
	}
	return comp.Render(c.UserContext(), c)
}

// redirectAfterPost sends plain forms to url with 303 See Other. A boosted
// form goes there as boosted navigation does (HX-Location, the whole page):
// htmx keeps the form's page in its history, so Back shows the form as it
// was sent. Other htmx requests get HX-Redirect.
func redirectAfterPost(c *fiber.Ctx, url string) error {
	switch {
	case c.Get("HX-Boosted") == "true":
		loc, _ := json.Marshal(map[string]any{"path": url, "target": "body", "headers": map[string]string{"HX-Boosted": "true"}}) // strings always marshal
		c.Set("HX-Location", string(loc))
		return c.SendStatus(fiber.StatusNoContent)
	case c.Get("HX-Request") == "true":
		c.Set("HX-Redirect", url)
		return c.SendStatus(fiber.StatusNoContent)
	}
	return c.Redirect(url, fiber.StatusSeeOther)
}

// locOf is the request's language: its cookie, else Accept-Language.
func locOf(c *fiber.Ctx) views.Loc {
	return views.Loc{Lang: views.PickLang(c.Cookies(langCookie), c.Get(fiber.HeaderAcceptLanguage))}
}

// say shows an error or a message.Message in the request's language when it
// carries a translatable message (message.Message, db.Error), else as it is.
func say(loc views.Loc, err error) string {
	var m message.Message
	var de *db.Error
	switch {
	case errors.As(err, &m):
		return loc.Msg(m.Format, m.Args...)
	case errors.As(err, &de):
		return loc.Msg(de.Format, de.Args...)
	}
	return err.Error()
}

// layout is the view model every page starts from.
func (h *handler) layout(c *fiber.Ctx, title, active string) views.Layout {
	loc := locOf(c)
	if title == "" {
		title = loc.T("app.title")
	}
	l := views.Layout{
		Loc:    loc,
		Title:  title,
		Active: active,
		Path:   string(c.Request().URI().RequestURI()),
	}
	if s, ok := sessionOf(c); ok {
		l.User, l.CSRF = s.Username, s.CSRF
		l.RegistryHost, l.RegistryMissing = h.probe.status(c.UserContext())
		if f, ok := h.takeFlash(c); ok {
			l.Flash, l.NewToken = flashView(loc, f), f.Token
		}
	}
	return l
}

func (h *handler) errorPage(c *fiber.Ctx, err error) error {
	status := fiber.StatusInternalServerError
	var fe *fiber.Error
	var de *db.Error
	switch {
	case errors.As(err, &fe):
		status = fe.Code
	case errors.As(err, &de) && errors.Is(err, db.ErrNotFound):
		status = fiber.StatusNotFound
	case errors.As(err, &de) && errors.Is(err, db.ErrConflict):
		status = fiber.StatusConflict
	default:
		h.Log.Error("request failed", "method", c.Method(), "path", c.Path(), "err", err)
	}
	if strings.HasPrefix(c.Path(), "/api/") {
		// What the server refuses before any route (a body over the
		// limit) still answers the API's way.
		msg := "internal error; the server log says more"
		if fe != nil {
			msg = fe.Message
		}
		return c.Status(status).JSON(apiError{Code: statusCode(status), Message: msg})
	}
	l := h.layout(c, "", "builder")
	key := "err.generic"
	if status == fiber.StatusNotFound {
		key = "err.notfound"
	}
	l.Title = l.Loc.T(key)
	return render(c, status, l, views.Error(views.ErrorPage{Layout: l, Message: say(l.Loc, err)}))
}

// --- Language --------------------------------------------------------------

const langCookie = "lang"

// setLanguage works signed in (session CSRF token) and on the sign-in
// pages (double-submit token).
func (h *handler) setLanguage(c *fiber.Ctx) error {
	ok := checkPreCSRF(c)
	if s, signedIn := h.currentSession(c); signedIn {
		ok = subtle.ConstantTimeCompare([]byte(c.FormValue("csrf")), []byte(s.CSRF)) == 1
	}
	if !ok {
		return fiber.NewError(fiber.StatusForbidden, "the form's security token is missing or out of date; reload the page and try again")
	}
	lang := views.PickLang(c.FormValue("lang"), "")
	c.Cookie(&fiber.Cookie{Name: langCookie, Value: lang, Path: "/", MaxAge: 365 * 24 * 3600, SameSite: "Lax", HTTPOnly: true})
	return c.Redirect(safeNext(c.FormValue("next")), fiber.StatusSeeOther)
}

// --- Registry reachability -------------------------------------------------

// registryProbe answers "is there a registry to push to?" for the
// current settings, caching the answer for a few seconds.
type registryProbe struct {
	current func(context.Context) (registry.Target, error)

	mu      sync.Mutex
	checked time.Time
	host    string
	missing bool
}

// status returns the registry host and whether it is missing or silent.
func (p *registryProbe) status(ctx context.Context) (host string, missing bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.checked) < 5*time.Second {
		return p.host, p.missing
	}
	reg, err := p.current(ctx)
	p.host, p.missing = reg.Host, err != nil || reg.Host == "" || !registry.Answers(ctx, reg)
	p.checked = time.Now()
	return p.host, p.missing
}

// forget drops the cached answer after the settings change.
func (p *registryProbe) forget() {
	p.mu.Lock()
	p.checked = time.Time{}
	p.mu.Unlock()
}
