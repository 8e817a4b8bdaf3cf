package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"imagebuilder/builder/spec"
	"imagebuilder/db"
)

// The review's header injection: a "next" carrying CR/LF never reaches the
// response headers, and one that a browser would read as another host
// never leaves the origin.
func TestSignInNextCannotInjectHeadersOrRedirectAway(t *testing.T) {
	app, _ := testApp(t)
	for _, next := range []string{
		"/\r\nX-Injected: 1\r\nSet-Cookie: injected=1; Path=/",
		"/\r\n\r\n<html>",
		"/\t/evil.example/pwned",
		"/\r/evil.example/pwned",
		"//evil.example/pwned",
		"/\\evil.example",
		"https://evil.example/",
	} {
		cl := newClient(t, app)
		_, doc := cl.get("/login?next=" + url.QueryEscape(next))
		field, _ := doc.Find(`[data-testid="login-form"] input[name="next"]`).Attr("value")
		if field != defaultNext {
			t.Errorf("next %q: the sign-in form carries %q", next, field)
		}
		// Posted directly, bypassing the form.
		resp, _ := cl.post("/login", url.Values{"username": {"admin"}, "password": {testPassword}, "next": {next}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != defaultNext {
			t.Errorf("next %q: %d Location %q", next, resp.StatusCode, resp.Header.Get("Location"))
		}
		if resp.Header.Get("X-Injected") != "" {
			t.Errorf("next %q injected a header", next)
		}
		for _, c := range resp.Cookies() {
			if c.Name == "injected" {
				t.Errorf("next %q injected a cookie", next)
			}
		}
	}
	// A portal path with a query survives.
	cl := newClient(t, app)
	cl.get("/login")
	resp, _ := cl.post("/login", url.Values{"username": {"admin"}, "password": {testPassword}, "next": {"/specs/a/jobs?x=1"}})
	if got := resp.Header.Get("Location"); got != "/specs/a/jobs?x=1" {
		t.Fatalf("a good next became %q", got)
	}
}

// Twelve wrong passwords sent at once from one address: the attempt is
// counted before the slow password check, so at most five are tried.
func TestParallelWrongPasswordsAreRateLimited(t *testing.T) {
	app, _ := testApp(t)
	const n = 12
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = newClient(t, app)
		clients[i].get("/login")
	}
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			req := form("POST", "/login", url.Values{"csrf": {clients[i].csrf}, "username": {"admin"}, "password": {"wrong password"}})
			for _, c := range clients[i].cookies {
				req.AddCookie(c)
			}
			resp, err := app.Test(req, -1)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		}(i)
	}
	wg.Wait()
	tried, limited := 0, 0
	for _, c := range codes {
		switch c {
		case http.StatusUnauthorized:
			tried++
		case http.StatusTooManyRequests:
			limited++
		}
	}
	if tried > loginFailLimit || tried+limited != n {
		t.Fatalf("%d tried, %d limited of %d parallel wrong passwords (codes %v)", tried, limited, n, codes)
	}
	// The right password now waits too.
	if resp := clients[0].login("admin", testPassword); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("right password after the burst: %d", resp.StatusCode)
	}
}

// The limiter forgets the clients whose last attempt is oldest once it
// holds its bound, and a client it still holds stays limited.
func TestLoginLimiterIsBounded(t *testing.T) {
	l := &loginLimiter{fails: map[string][]time.Time{}, max: 100}
	for i := 0; i < loginFailLimit; i++ {
		l.reserve("192.0.2.200")
	}
	for i := 0; i < 1000; i++ {
		l.reserve(fmt.Sprintf("198.51.100.%d/%d", i%250, i))
	}
	if n := l.clients(); n > 100 {
		t.Fatalf("the limiter holds %d clients, bound 100", n)
	}
	// The newest clients are held.
	if wait := l.reserve("198.51.100.249/999"); wait != 0 || len(l.fails["198.51.100.249/999"]) != 2 {
		t.Fatalf("the newest client was forgotten: %v", l.fails["198.51.100.249/999"])
	}
	l.forgive("198.51.100.249/999")
	if _, ok := l.fails["198.51.100.249/999"]; ok {
		t.Fatal("forgive kept the client")
	}
}

// 100,000 invalid lines: one page, a few errors per list and a count of the
// rest, nothing stored; the form's help states the bounds.
func TestHugeInvalidListsGiveASmallErrorPage(t *testing.T) {
	app, store := testApp(t)
	cl := signedIn(t, app)
	_, doc := cl.get("/specs/new")
	if help := doc.Find("fieldset.packages .note").Text(); !strings.Contains(help, "At most 500 lines per list, each at most 1000 characters") {
		t.Fatalf("the form does not state the bounds: %q", help)
	}
	lines := make([]string, 20000)
	for i := range lines {
		lines[i] = "Bad_Package!" + fmt.Sprint(i)
	}
	resp, doc := cl.post("/specs", url.Values{"name": {"huge"}, "baseImage": {"127.0.0.1:5000/library/busybox:latest"},
		"apt": {strings.Join(lines, "\n")}, "pip": {strings.Join(lines[:300], "\n")}})
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("status %d", resp.StatusCode)
	}
	apt := doc.Find(`[data-testid="apt-errors"] li`)
	if apt.Length() != maxErrorsPerField+1 || !strings.Contains(apt.Last().Text(), "and 491 more problems") {
		t.Fatalf("%d APT errors shown, last %q", apt.Length(), apt.Last().Text())
	}
	if !strings.Contains(apt.First().Text(), "20000 lines; at most 500") {
		t.Fatalf("first APT error %q", apt.First().Text())
	}
	if _, err := store.GetSpec(context.Background(), "huge"); err == nil {
		t.Fatal("the spec was stored")
	}
}

// A pull secret that does not exist is refused on save, next to its field,
// for a spec and for an Image Management entry.
func TestUnknownPullSecretIsRefusedOnSave(t *testing.T) {
	app, store := testApp(t)
	cl := signedIn(t, app)
	resp, doc := cl.post("/specs", url.Values{"name": {"private"}, "baseImage": {"127.0.0.1:5000/library/busybox:latest"},
		"usePullSecret": {"on"}, "pullSecret": {"<script>alert(1)</script>"}})
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("spec with an unknown secret: %d", resp.StatusCode)
	}
	if got := doc.Find(`[data-testid="pullSecret-errors"]`).Text(); !strings.Contains(got, `pull secret "<script>alert(1)</script>" does not exist`) {
		t.Fatalf("pull secret error: %q", got)
	}
	if _, err := store.GetSpec(context.Background(), "private"); err == nil {
		t.Fatal("the spec was stored")
	}
	resp, doc = cl.post("/images", url.Values{"name": {"Private"}, "reference": {"registry.example.com/team/base:1"}, "pullSecret": {"missing"}})
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("image with an unknown secret: %d", resp.StatusCode)
	}
	if got := doc.Find(`[data-testid="image-pull-secret-errors"]`).Text(); !strings.Contains(got, `pull secret "missing" does not exist`) {
		t.Fatalf("image pull secret error: %q", got)
	}
	if images, _ := store.ListBaseImages(context.Background()); len(images) != 0 {
		t.Fatalf("the entry was stored: %+v", images)
	}
}

// Every response carries the security headers, and /static serves assets
// only, never the package's Go source.
func TestSecurityHeadersAndAssetsOnly(t *testing.T) {
	app, _ := testApp(t)
	cl := newClient(t, app)
	for _, path := range []string{"/login", "/specs", "/static/app.js", "/static/app.css", "/static/static.go", "/nope"} {
		resp, _ := cl.get(path)
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Referrer-Policy") != "same-origin" {
			t.Errorf("%s: nosniff %q referrer %q", path, resp.Header.Get("X-Content-Type-Options"), resp.Header.Get("Referrer-Policy"))
		}
	}
	if resp, _ := cl.get("/static/app.js"); resp.StatusCode != http.StatusOK {
		t.Fatalf("app.js: %d", resp.StatusCode)
	}
	if resp, _ := cl.get("/static/static.go"); resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("static.go: %d", resp.StatusCode)
	}
	_, doc := signedIn(t, app).get("/specs")
	if n := doc.Find("[onchange],[onclick],[onsubmit],[onload],[style]").Length(); n > 0 {
		t.Fatalf("%d elements with inline handlers or styles, which the CSP blocks", n)
	}
}

// An administrator sees their sessions, ends one or all others, and a
// password change signs out every other session.
func TestSessionsListEndAndPasswordChange(t *testing.T) {
	app, _ := testApp(t)
	laptop, phone, tablet := signedIn(t, app), signedIn(t, app), signedIn(t, app)
	_, doc := laptop.get("/account")
	if n := doc.Find(`[data-testid="session-row"]`).Length(); n != 3 {
		t.Fatalf("%d sessions listed, want 3", n)
	}
	html, _ := doc.Html()
	for _, cl := range []*client{laptop, phone, tablet} {
		if id := cl.cookies[sessionCookie].Value; strings.Contains(html, id) {
			t.Fatal("the page shows a session cookie")
		}
	}
	if doc.Find(`[data-testid="session-row"][data-current="true"]`).Length() != 1 {
		t.Fatal("the current session is not marked")
	}
	// End one other session (the first row that is not the current one).
	action, _ := doc.Find(`[data-testid="session-row"][data-current="false"] form`).First().Attr("action")
	if resp, _ := laptop.post(action, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("end a session: %d", resp.StatusCode)
	}
	stillIn := 0
	for _, cl := range []*client{phone, tablet} {
		if resp, _ := cl.get("/specs"); resp.StatusCode == http.StatusOK {
			stillIn++
		}
	}
	if stillIn != 1 {
		t.Fatalf("%d of the two other sessions still work after ending one", stillIn)
	}
	// A wrong current password changes nothing.
	resp, doc := laptop.post("/account/password", url.Values{"current": {"nope"}, "new": {"another password 1"}, "confirm": {"another password 1"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(doc.Find(`[data-testid="current-errors"]`).Text(), "wrong") {
		t.Fatalf("wrong current password: %d", resp.StatusCode)
	}
	other := signedIn(t, app)
	if resp, _ := laptop.post("/account/password", url.Values{"current": {testPassword}, "new": {"another password 1"}, "confirm": {"another password 1"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("change password: %d", resp.StatusCode)
	}
	if resp, _ := other.get("/specs"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("another session survived the password change: %d", resp.StatusCode)
	}
	if resp, _ := laptop.get("/specs"); resp.StatusCode != http.StatusOK {
		t.Fatalf("the session that changed the password was signed out: %d", resp.StatusCode)
	}
	if resp := newClient(t, app).login("admin", "another password 1"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in with the new password: %d", resp.StatusCode)
	}
	// Sign out every other session.
	laptop.get("/account")
	if resp, _ := laptop.post("/account/sessions/delete-others", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("end others: %d", resp.StatusCode)
	}
	if _, doc := laptop.get("/account"); doc.Find(`[data-testid="session-row"]`).Length() != 1 {
		t.Fatal("other sessions remain")
	}
}

// Who did it: the jobs and the audit log name the administrator who
// created, edited, cancelled, rebuilt and deleted; Rebuild works on any
// succeeded revision and brings the spec back to that revision's content.
func TestAuditNamesTheAdministratorOfEveryAction(t *testing.T) {
	app, store := testApp(t)
	ctx := context.Background()
	cl := signedIn(t, app)
	busybox := "127.0.0.1:5000/library/busybox:latest"
	cl.post("/specs", url.Values{"name": {"audited"}, "baseImage": {busybox}, "apt": {"jq"}})
	cl.post("/specs/audited", url.Values{"baseImage": {busybox}, "apt": {"curl"}})
	jobs, _ := store.ListJobs(ctx, "audited")
	if len(jobs) != 2 || jobs[0].RequestedBy != "admin" || jobs[1].RequestedBy != "admin" {
		t.Fatalf("jobs: %+v", jobs)
	}
	// Revision 1 was superseded by the system (no administrator); cancel 2.
	if resp, _ := cl.post(fmt.Sprintf("/jobs/%d/cancel", jobs[0].ID), nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("cancel: %d", resp.StatusCode)
	}
	if j, _ := store.GetJob(ctx, jobs[0].ID); j.CancelledBy != "admin" || j.Status != db.StatusCancelled {
		t.Fatalf("cancelled job: %+v", j)
	}
	// Rebuild needs a succeeded revision: mark revision 1 succeeded as a
	// worker would have.
	if _, err := store.FinishJob(ctx, jobs[1].ID, db.JobOutcome{Status: db.StatusCancelled}); err == nil {
		t.Fatal("a cancelled job was finished again")
	}
	s1, _, err := store.CreateSpec(ctx, db.ImageSpec{Name: "built", BaseImage: busybox, APT: []string{"jq"}}, "")
	if err != nil {
		t.Fatal(err)
	}
	j1, _, _ := store.ClaimNextJob(ctx) // the oldest pending job is "built" revision 1
	if j1.SpecID != s1.ID {
		t.Fatalf("claimed %+v", j1)
	}
	store.FinishJob(ctx, j1.ID, db.JobOutcome{Status: db.StatusSucceeded, Image: "x/built:1", Digest: "sha256:1"})
	cl.post("/specs/built", url.Values{"baseImage": {busybox}, "apt": {"curl"}})
	resp, _ := cl.post(fmt.Sprintf("/jobs/%d/rebuild", j1.ID), nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("rebuild: %d", resp.StatusCode)
	}
	built, _ := store.ListJobs(ctx, "built")
	if len(built) != 3 || built[0].Revision != 3 || built[0].RetryOf != j1.ID || built[0].Snapshot.APT[0] != "jq" {
		t.Fatalf("after rebuild: %+v", built[0])
	}
	if spec, _ := store.GetSpec(ctx, "built"); spec.APT[0] != "jq" {
		t.Fatalf("the spec did not take revision 1's content: %+v", spec)
	}
	cl.post("/specs/audited/delete", nil)
	_, doc := cl.get("/settings/audit")
	var got []string
	doc.Find(`[data-testid="audit-row"]`).Each(func(_ int, s *goquery.Selection) {
		a, _ := s.Attr("data-action")
		sp, _ := s.Attr("data-spec")
		got = append(got, sp+":"+a+":"+s.Find(`[data-testid="audit-actor"]`).Text())
	})
	want := "audited:delete:admin built:rebuild:admin built:edit:admin audited:cancel:admin audited:edit:admin audited:create:admin :sign-in:admin"
	if strings.Join(got, " ") != want {
		t.Fatalf("audit log:\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	_, doc = cl.get("/settings/audit?spec=built")
	if n := doc.Find(`[data-testid="audit-row"]`).Length(); n != 2 {
		t.Fatalf("filtered by spec: %d rows", n)
	}
}

// The form's Containerfile preview shows exactly what Confirm builds, or
// the problems in the page's language; it stores nothing.
func TestContainerfilePreview(t *testing.T) {
	app, store := testApp(t)
	cl := signedIn(t, app)
	preview := func(lang string, v url.Values) *goquery.Document {
		req := form("POST", "/specs/preview", v)
		req.Header.Set("HX-Request", "true")
		req.Header.Set("X-Csrf-Token", cl.csrf)
		req.Header.Set("Accept-Language", lang)
		_, doc := cl.do(req)
		return doc
	}
	doc := preview("en", url.Values{"name": {"tools"}, "baseImage": {"127.0.0.1:5000/library/debian:bookworm"}, "apt": {"jq\ncurl"}, "pip": {"requests>=2.31"}})
	got := doc.Find(`[data-testid="preview-file"]`).Text()
	want, _ := spec.Containerfile(db.ImageSpec{Name: "tools", BaseImage: "127.0.0.1:5000/library/debian:bookworm", APT: []string{"jq", "curl"}, Pip: []string{"requests>=2.31"}})
	if got != want {
		t.Fatalf("preview:\n%s\nwant\n%s", got, want)
	}
	doc = preview("zh-TW", url.Values{"name": {"tools"}, "baseImage": {""}, "apt": {"Bad Package"}})
	if got := doc.Find("li").Text(); !strings.Contains(got, "請填寫 base image") || !strings.Contains(got, "APT: 第 1 行") {
		t.Fatalf("zh-TW problems: %q", got)
	}
	if specs, _ := store.ListSpecs(t.Context()); len(specs) != 0 {
		t.Fatal("the preview stored a spec")
	}
}
