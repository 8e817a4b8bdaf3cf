package e2e

import (
	"net/url"
	"regexp"
	"testing"
)

func TestSignInOutWrongPasswordAndFirstRunSetup(t *testing.T) {
	in := newInstance(t)
	srv := in.serve()
	page := newPage(t, "en-US")
	shot := &shots{t: t, page: page}
	_, err := page.Goto(srv.url("/specs"))
	must(t, err)
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/login\?next=`)))
	shot.take("login")
	must(t, byTestID(page, "username").Fill(adminUser))
	must(t, byTestID(page, "password").Fill("not the password"))
	must(t, byTestID(page, "login").Click())
	must(t, expect.Locator(byTestID(page, "login-error")).ToHaveText("Wrong user name or password."))
	must(t, expect.Locator(byTestID(page, "username")).ToHaveValue(adminUser))
	shot.take("login-wrong-password")
	must(t, byTestID(page, "password").Fill(adminPassword))
	must(t, byTestID(page, "login").Click())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/specs$`)))
	must(t, expect.Locator(byTestID(page, "user")).ToHaveText("Account: "+adminUser))
	must(t, byTestID(page, "logout").Click())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/login$`)))
	_, err = page.Goto(srv.url("/images"))
	must(t, err)
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/login\?next=%2Fimages$`)))

	// A data directory with no administrator offers the first-run setup.
	fresh := newInstance(t)
	first := fresh.serveWithoutAdmin()
	_, err = page.Goto(first.url("/specs"))
	must(t, err)
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/setup$`)))
	shot.take("setup")
	must(t, byTestID(page, "username").Fill("owner"))
	must(t, byTestID(page, "password").Fill("first-password"))
	must(t, byTestID(page, "confirm-password").Fill("first-password"))
	must(t, byTestID(page, "setup").Click())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/specs$`)))
	must(t, expect.Locator(byTestID(page, "user")).ToHaveText("Account: owner"))
}

// The review's two pre-auth findings in a real browser: a "next" with
// CR/LF stores no cookie, and "/\t/evil.example" does not leave the origin.
func TestSignInNextNeitherInjectsNorLeavesTheOrigin(t *testing.T) {
	in := newInstance(t)
	srv := in.serve()
	for _, next := range []string{
		"/\r\nX-Injected: 1\r\nSet-Cookie: injected=1; Path=/",
		"/\t/evil.example/pwned",
		"/\r/evil.example/pwned",
		"//evil.example/pwned",
	} {
		page := newPage(t, "en-US")
		_, err := page.Goto(srv.url("/login?next=" + url.QueryEscape(next)))
		must(t, err)
		must(t, byTestID(page, "username").Fill(adminUser))
		must(t, byTestID(page, "password").Fill(adminPassword))
		must(t, byTestID(page, "login").Click())
		must(t, expect.Page(page).ToHaveURL(srv.url("/specs")))
		cookies, err := page.Context().Cookies()
		must(t, err)
		for _, c := range cookies {
			if c.Name == "injected" {
				t.Errorf("next %q stored a cookie", next)
			}
		}
	}
}
