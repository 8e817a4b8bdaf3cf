package handlers

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/gofiber/fiber/v2"

	"imagebuilder/builder/logs"
	"imagebuilder/builder/queue"
	"imagebuilder/builder/registry"
	"imagebuilder/builder/settings"
	"imagebuilder/db"
)

// testApp is the portal on a real SQLite file. The queue is not started:
// confirmed jobs stay Pending, which is all these tests look at.
func testApp(t *testing.T) (*fiber.App, *db.DB) {
	t.Helper()
	return newTestApp(t, true)
}

func newTestApp(t testing.TB, withAdmin bool, options ...func(*Deps)) (*fiber.App, *db.DB) {
	t.Helper()
	return newTestAppAt(t, filepath.Join(t.TempDir(), "imagebuilder.db"), withAdmin, options...)
}

// newTestAppAt is newTestApp on the database file at path (which may hold
// data already).
func newTestAppAt(t testing.TB, path string, withAdmin bool, options ...func(*Deps)) (*fiber.App, *db.DB) {
	t.Helper()
	dir := filepath.Dir(path)
	store, err := db.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	logs, err := logs.NewStore(filepath.Join(dir, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Docker-Distribution-Api-Version", "registry/2.0")
	}))
	t.Cleanup(reg.Close)
	box, err := settings.OpenSecretBox(filepath.Join(dir, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	settings := settings.New(store, box, registry.Target{Host: strings.TrimPrefix(reg.URL, "http://"), Insecure: true})
	q := queue.New(store, nil, logs, queue.Config{Registry: settings.Registry, PullSecret: settings.PullSecret, Sources: settings.Sources})
	keys, err := LoadSessionKeys(filepath.Join(dir, "session.keys"))
	if err != nil {
		t.Fatal(err)
	}
	hash, err := HashPassword(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if withAdmin {
		if _, err := store.CreateAdmin(context.Background(), "admin", hash); err != nil {
			t.Fatal(err)
		}
	}
	deps := Deps{DB: store, Queue: q, Logs: logs, Settings: settings, SessionKeys: keys}
	for _, o := range options {
		o(&deps)
	}
	return New(deps), store
}

const testPassword = "correct horse battery"

// client is a browser: it keeps cookies and the page's CSRF token.
type client struct {
	t       *testing.T
	app     *fiber.App
	cookies map[string]*http.Cookie
	csrf    string
	ip      string
}

func newClient(t *testing.T, app *fiber.App) *client {
	return &client{t: t, app: app, cookies: map[string]*http.Cookie{}, ip: "192.0.2.1"}
}

func (cl *client) do(req *http.Request) (*http.Response, *goquery.Document) {
	cl.t.Helper()
	for _, c := range cl.cookies {
		req.AddCookie(c)
	}
	req.Header.Set("X-Forwarded-For", cl.ip)
	resp, doc := do(cl.t, cl.app, req)
	for _, c := range resp.Cookies() {
		if c.MaxAge < 0 {
			delete(cl.cookies, c.Name)
		} else {
			cl.cookies[c.Name] = c
		}
	}
	if tok, ok := doc.Find(`input[name="csrf"]`).First().Attr("value"); ok && tok != "" {
		cl.csrf = tok
	}
	return resp, doc
}

func (cl *client) get(path string) (*http.Response, *goquery.Document) {
	return cl.do(httptest.NewRequest("GET", path, nil))
}

// post sends a form with the current CSRF token.
func (cl *client) post(path string, values url.Values) (*http.Response, *goquery.Document) {
	if values == nil {
		values = url.Values{}
	}
	if values.Get("csrf") == "" {
		values.Set("csrf", cl.csrf)
	}
	return cl.do(form("POST", path, values))
}

func (cl *client) login(user, password string) *http.Response {
	cl.get("/login")
	resp, _ := cl.post("/login", url.Values{"username": {user}, "password": {password}})
	return resp
}

// signedIn returns a client that has signed in and holds a CSRF token.
func signedIn(t *testing.T, app *fiber.App) *client {
	cl := newClient(t, app)
	if resp := cl.login("admin", testPassword); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: %d", resp.StatusCode)
	}
	cl.get("/specs")
	return cl
}

func do(t *testing.T, app *fiber.App, req *http.Request) (*http.Response, *goquery.Document) {
	t.Helper()
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	return resp, doc
}

func form(method, target string, values url.Values) *http.Request {
	req := httptest.NewRequest(method, target, strings.NewReader(values.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

func TestFullPageOrPartialFromHXRequest(t *testing.T) {
	app, _ := testApp(t)
	cl := signedIn(t, app)
	_, full := cl.get("/specs")
	if full.Find("html head title").Length() != 1 || full.Find(`[data-testid="empty-state"]`).Length() != 1 {
		t.Fatal("a direct request did not get the full page")
	}
	req := httptest.NewRequest("GET", "/specs", nil)
	req.Header.Set("HX-Request", "true")
	resp, part := cl.do(req)
	if part.Find("head title").Length() != 0 || part.Find(`[data-testid="empty-state"]`).Length() != 1 {
		t.Fatal("an htmx request did not get the partial")
	}
	if !strings.Contains(resp.Header.Get("Vary"), "HX-Request") {
		t.Error("responses do not vary on HX-Request")
	}
	// Boosted navigation swaps the whole body: it gets the full page.
	req = httptest.NewRequest("GET", "/specs", nil)
	req.Header.Set("HX-Request", "true")
	req.Header.Set("HX-Boosted", "true")
	if _, boosted := cl.do(req); boosted.Find("head title").Length() != 1 {
		t.Fatal("a boosted request did not get the full page")
	}
}

func TestCreateWithoutJavaScriptRedirectsAndEnqueues(t *testing.T) {
	app, store := testApp(t)
	cl := signedIn(t, app)
	resp, _ := cl.post("/specs", url.Values{"name": {"plain"}, "baseImage": {"busybox"}, "apt": {"jq\r\ncurl\r\n"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/specs/plain/jobs" {
		t.Fatalf("create: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	jobs, _ := store.ListJobs(context.Background(), "plain")
	if len(jobs) != 1 || jobs[0].Status != db.StatusPending || strings.Join(jobs[0].Snapshot.APT, ",") != "jq,curl" {
		t.Fatalf("jobs %+v", jobs)
	}
	// With htmx, the redirect is an HX-Redirect header.
	req := form("POST", "/specs/plain", url.Values{"baseImage": {"busybox"}, "pip": {"requests"}})
	req.Header.Set("HX-Request", "true")
	req.Header.Set("X-Csrf-Token", cl.csrf)
	resp, _ = cl.do(req)
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("HX-Redirect") != "/specs/plain/jobs" {
		t.Fatalf("htmx edit: %d %q", resp.StatusCode, resp.Header.Get("HX-Redirect"))
	}
	_, doc := cl.get("/specs/plain/jobs")
	if n := doc.Find(`[data-testid="job-row"]`).Length(); n != 2 {
		t.Fatalf("jobs tab lists %d jobs", n)
	}
	if rev := doc.Find(`[data-testid="job-revision"]`).First().Text(); rev != "2" {
		t.Fatalf("newest first: %q", rev)
	}
}

func TestInvalidFormKeepsInputAndNamesTheLine(t *testing.T) {
	app, store := testApp(t)
	cl := signedIn(t, app)
	values := url.Values{"name": {"Bad_Name"}, "baseImage": {""}, "apt": {"jq\ncurl; rm -rf /"}, "pip": {"-r reqs.txt"}}
	resp, doc := cl.post("/specs", values)
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for field, want := range map[string]string{
		"name-errors":      "uppercase",
		"baseImage-errors": "base image is required",
		"apt-errors":       "Line 2:",
		"pip-errors":       `Line 1: options such as "-r" are not allowed`,
	} {
		if got := doc.Find(`[data-testid="` + field + `"]`).Text(); !strings.Contains(got, want) {
			t.Errorf("%s = %q, want %q", field, got, want)
		}
	}
	if got := doc.Find(`[data-testid="apt"]`).Text(); got != "jq\ncurl; rm -rf /" {
		t.Errorf("the APT text was not kept: %q", got)
	}
	if v, _ := doc.Find(`[data-testid="name"]`).Attr("value"); v != "Bad_Name" {
		t.Errorf("the name was not kept: %q", v)
	}
	if list, _ := store.ListSpecs(context.Background()); len(list) != 0 {
		t.Fatal("an invalid spec was stored")
	}
	// A duplicate name is reported next to the name.
	cl.post("/specs", url.Values{"name": {"taken"}, "baseImage": {"busybox"}})
	_, doc = cl.post("/specs", url.Values{"name": {"taken"}, "baseImage": {"busybox"}})
	if got := doc.Find(`[data-testid="name-errors"]`).Text(); !strings.Contains(got, "already exists") {
		t.Errorf("duplicate name: %q", got)
	}
}

func TestMissingThingsAre404Pages(t *testing.T) {
	app, _ := testApp(t)
	cl := signedIn(t, app)
	for _, path := range []string{"/specs/nope", "/specs/nope/jobs", "/jobs/999", "/jobs/abc", "/jobs/999/log", "/images/999"} {
		resp, doc := cl.get(path)
		if resp.StatusCode != http.StatusNotFound || doc.Find(`[data-testid="error-message"]`).Length() != 1 {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}
}

func TestLanguageFromHeaderAndCookie(t *testing.T) {
	app, _ := testApp(t)
	cl := signedIn(t, app)
	req := httptest.NewRequest("GET", "/specs", nil)
	req.Header.Set("Accept-Language", "zh-TW,zh;q=0.9,en;q=0.8")
	_, doc := cl.do(req)
	if got := doc.Find(`[data-testid="add-spec"]`).Text(); got != "+ 新增" {
		t.Fatalf("zh-TW add button %q", got)
	}
	if resp, _ := cl.post("/lang", url.Values{"lang": {"en"}, "csrf": {"forged"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("language switch without its token: %d", resp.StatusCode)
	}
	// Signed out, on the sign-in page, the switch works with its token.
	anon := newClient(t, app)
	anon.get("/login")
	if resp, _ := anon.post("/lang", url.Values{"lang": {"zh-TW"}, "next": {"/login"}}); resp.StatusCode != http.StatusSeeOther || anon.cookies["lang"] == nil {
		t.Fatalf("language switch on the sign-in page: %d", resp.StatusCode)
	}
	resp, _ := cl.post("/lang", url.Values{"lang": {"en"}, "next": {"//evil.example"}})
	if resp.Header.Get("Location") != "/specs" {
		t.Fatalf("open redirect: %q", resp.Header.Get("Location"))
	}
	req = httptest.NewRequest("GET", "/specs", nil)
	req.Header.Set("Accept-Language", "zh-TW")
	cl.cookies["lang"] = &http.Cookie{Name: "lang", Value: "en"}
	if _, doc := cl.do(req); doc.Find(`[data-testid="add-spec"]`).Text() != "+ Add" {
		t.Fatal("the language cookie does not win over Accept-Language")
	}
}
