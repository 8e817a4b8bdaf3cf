package e2e

// The browser the tests drive: one Chromium for the package, pages that fail
// a test on a console error or a Content-Security-Policy violation, and
// screenshots.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/playwright-community/playwright-go"
)

var (
	pwOnce    sync.Once
	pwErr     error
	pwBrowser playwright.Browser
	expect    = playwright.NewPlaywrightAssertions(60_000)
	// consoleMu guards consoleErrors.
	consoleMu sync.Mutex
)

// consoleErrors are each page's console errors and uncaught exceptions
// so far (guarded by the page's own lock in newPage; read them with
// pageErrors).
var consoleErrors = map[playwright.Page][]string{}

var expectedAnswer = regexp.MustCompile(`Failed to load resource: the server responded with a status of (422|409|404|401|429) .*\[(.*)\]$`)

// browser starts the Playwright driver from npm and Debian's Chromium once.
func browser(t *testing.T) playwright.Browser {
	t.Helper()
	pwOnce.Do(func() {
		dir, err := filepath.Abs(filepath.Join("..", ".cache", "playwright"))
		if err != nil {
			pwErr = err
			return
		}
		pw, err := playwright.Run(&playwright.RunOptions{DriverDirectory: dir, SkipInstallBrowsers: true})
		if err != nil {
			pwErr = fmt.Errorf("playwright driver in %s (run `make setup`): %w", dir, err)
			return
		}
		pwBrowser, pwErr = pw.Chromium.Launch(playwright.BrowserTypeLaunchOptions{
			ExecutablePath: playwright.String("/usr/bin/chromium"),
			Headless:       playwright.Bool(true),
			Args: []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
				"--disable-background-networking", "--disable-component-update", "--disable-sync"},
		})
	})
	if pwErr != nil {
		t.Fatal(pwErr)
	}
	return pwBrowser
}

// newPage opens a page in a fresh context with the given browser language.
func newPage(t *testing.T, locale string) playwright.Page {
	t.Helper()
	ctx, err := browser(t).NewContext(playwright.BrowserNewContextOptions{
		Locale:          playwright.String(locale),
		AcceptDownloads: playwright.Bool(true),
		Viewport:        &playwright.Size{Width: 1280, Height: 900},
		TimezoneId:      playwright.String("Asia/Taipei"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctx.Close() })
	page, err := ctx.NewPage()
	if err != nil {
		t.Fatal(err)
	}
	// The Content-Security-Policy allows no inline script or style: any
	// page that needs one shows up here. Every other console error and
	// uncaught exception is kept for the tests that read every screen
	// (pageErrors).
	mu := &consoleMu
	var violations []string
	page.OnConsole(func(m playwright.ConsoleMessage) {
		if m.Type() != "error" && !strings.Contains(m.Text(), "Content Security Policy") {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		line := page.URL() + ": " + m.Text() + " [" + m.Location().URL + "]"
		if strings.Contains(m.Text(), "Content Security Policy") {
			violations = append(violations, line)
		}
		consoleErrors[page] = append(consoleErrors[page], line)
	})
	page.OnPageError(func(err error) {
		mu.Lock()
		defer mu.Unlock()
		consoleErrors[page] = append(consoleErrors[page], page.URL()+": uncaught "+err.Error())
	})
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, v := range violations {
			t.Errorf("CSP violation: %s", v)
		}
		delete(consoleErrors, page)
	})
	return page
}

// pageErrors returns and forgets the page's console errors so far, but
// for the answers forms get by design: 422 (a form's problems), 409 (an
// edit of a spec changed since), 401 and 429 (a wrong password, too many)
// and the 404 of a page that is not there.
func pageErrors(page playwright.Page) []string {
	consoleMu.Lock()
	defer consoleMu.Unlock()
	var out []string
	for _, e := range consoleErrors[page] {
		m := expectedAnswer.FindStringSubmatch(e)
		// A 404 is expected only for the page itself (a favicon's is not).
		if m == nil || (m[1] == "404" || m[1] == "401" || m[1] == "429") && !strings.HasPrefix(e, m[2]+":") {
			out = append(out, e)
		}
	}
	delete(consoleErrors, page)
	return out
}

// shots saves a numbered screenshot of every screen a test visits into
// e2e/artifacts/.
type shots struct {
	t    *testing.T
	page playwright.Page
	n    int
	kept bool // another shots of the same test already cleared the folder
}

func (s *shots) take(name string) {
	s.t.Helper()
	s.n++
	dir := filepath.Join("artifacts", s.t.Name())
	if s.n == 1 && !s.kept {
		os.RemoveAll(dir) // screenshots of an earlier run would mislead
	}
	os.MkdirAll(dir, 0o755)
	path := filepath.Join(dir, fmt.Sprintf("%02d-%s.png", s.n, name))
	checkOverflow(s.t, s.page, name)
	if errs := pageErrors(s.page); len(errs) > 0 {
		s.t.Errorf("%s: console errors:\n  %s", name, strings.Join(errs, "\n  "))
	}
	if _, err := s.page.Screenshot(playwright.PageScreenshotOptions{Path: playwright.String(path), FullPage: playwright.Bool(true)}); err != nil {
		s.t.Fatalf("screenshot %s: %v", name, err)
	}
	// The same screen on a phone, for people to read.
	size := *s.page.ViewportSize()
	must(s.t, s.page.SetViewportSize(390, 844))
	phone := strings.TrimSuffix(path, ".png") + "-phone.png"
	if _, err := s.page.Screenshot(playwright.PageScreenshotOptions{Path: playwright.String(phone), FullPage: playwright.Bool(true)}); err != nil {
		s.t.Fatalf("screenshot %s: %v", name, err)
	}
	must(s.t, s.page.SetViewportSize(size.Width, size.Height))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func byTestID(p playwright.Page, id string) playwright.Locator {
	return p.Locator(`[data-testid="` + id + `"]`)
}

// signIn opens path, signs in on the page it is sent to, and lands there.
func signIn(t *testing.T, page playwright.Page, srv *server, path string) {
	t.Helper()
	_, err := page.Goto(srv.url(path))
	must(t, err)
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/login`)))
	must(t, byTestID(page, "username").Fill(adminUser))
	must(t, byTestID(page, "password").Fill(adminPassword))
	must(t, byTestID(page, "login").Click())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(regexp.QuoteMeta(path)+`$`)))
}
