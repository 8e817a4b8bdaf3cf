package e2e

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/playwright-community/playwright-go"

	"imagebuilder/db"
)

// Two administrators (two browser contexts) edit one spec: the later save
// is refused with both versions side by side, nothing the first saved is
// lost, and "Apply mine on top" keeps both. A double-click on Confirm and
// Back then Confirm again each make one revision.
func TestTwoTabsDoubleClickAndBackMakeNoLostOrDuplicateRevision(t *testing.T) {
	in := newInstance(t)
	// A base whose apt-get succeeds at once: APT lines build in no time.
	base := in.importBase(busyboxWithAptGet(t, "exit 0\n"), "library/apt:1", "APT")
	srv := in.serve()
	store := in.store()
	if resp := srv.postForm("/settings/secrets", url.Values{"name": {"team"}, "content": {`{"auths":{"registry.example.com":{"auth":"dTpw"}}}`}}); resp.StatusCode != 303 {
		t.Fatalf("pull secret: %s", resp.Status)
	}
	if resp := srv.postForm("/specs", url.Values{"name": {"shared"}, "baseImage": {base}, "apt": {"jq"}}); resp.StatusCode != 303 {
		t.Fatalf("create: %s", resp.Status)
	}
	revisions := func() int {
		jobs, err := store.ListJobs(t.Context(), "shared")
		must(t, err)
		return len(jobs)
	}
	a, b := newPage(t, "en-US"), newPage(t, "en-US")
	shot := &shots{t: t, page: b}
	signIn(t, a, srv, "/specs/shared")
	signIn(t, b, srv, "/specs/shared")
	// Tab A turns on the pull secret and saves.
	must(t, byTestID(a, "use-pull-secret").Check())
	_, err := byTestID(a, "pull-secret").SelectOption(playwright.SelectOptionValues{Values: &[]string{"team"}})
	must(t, err)
	must(t, byTestID(a, "confirm").Click())
	must(t, expect.Page(a).ToHaveURL(regexp.MustCompile(`/specs/shared/jobs$`)))
	must(t, expect.Locator(byTestID(a, "flash")).ToContainText("revision 2 is queued"))
	// Tab B, opened earlier, adds an APT line and saves: refused, with both.
	must(t, byTestID(b, "apt").Fill("jq\ncurl"))
	must(t, byTestID(b, "confirm").Click())
	conflict := byTestID(b, "conflict")
	must(t, expect.Locator(conflict).ToBeVisible())
	must(t, expect.Locator(conflict.Locator(`[data-field="form.pullsecret.choose"] [data-testid="conflict-theirs"]`)).ToHaveText("team"))
	must(t, expect.Locator(conflict.Locator(`[data-field="form.apt"] [data-testid="conflict-yours"]`)).ToContainText("curl"))
	must(t, expect.Locator(byTestID(b, "apt")).ToHaveValue("jq\ncurl"))
	shot.take("conflict")
	if s, _ := store.GetSpec(t.Context(), "shared"); s.PullSecret != "team" || len(s.APT) != 1 || revisions() != 2 {
		t.Fatalf("after the refused save: %+v, %d revisions", s.ImageSpec, revisions())
	}
	// Apply mine on top: both changes in the form, to confirm.
	must(t, byTestID(b, "conflict-merge").Click())
	must(t, expect.Locator(byTestID(b, "form-notice").First()).ToContainText("applied on top of revision 2"))
	must(t, expect.Locator(byTestID(b, "use-pull-secret")).ToBeChecked())
	must(t, expect.Locator(byTestID(b, "apt")).ToHaveValue("jq\ncurl"))
	shot.take("merged")
	must(t, byTestID(b, "confirm").Click())
	must(t, expect.Page(b).ToHaveURL(regexp.MustCompile(`/specs/shared/jobs$`)))
	if s, _ := store.GetSpec(t.Context(), "shared"); s.PullSecret != "team" || strings.Join(s.APT, ",") != "jq,curl" || revisions() != 3 {
		t.Fatalf("after the merge: %+v, %d revisions", s.ImageSpec, revisions())
	}
	// A double-click on Confirm: one revision.
	_, err = a.Goto(srv.url("/specs/shared"))
	must(t, err)
	must(t, byTestID(a, "apt").Fill("jq\ncurl\ngit"))
	must(t, byTestID(a, "confirm").Dblclick())
	must(t, expect.Page(a).ToHaveURL(regexp.MustCompile(`/specs/shared/jobs$`)))
	must(t, expect.Locator(a.Locator(`[data-testid="job-row"]`)).ToHaveCount(4))
	// Back to the form as it was sent, and Confirm again: still one.
	_, err = a.GoBack()
	must(t, err)
	must(t, expect.Page(a).ToHaveURL(regexp.MustCompile(`/specs/shared$`)))
	must(t, expect.Locator(byTestID(a, "apt")).ToHaveValue("jq\ncurl\ngit"))
	must(t, byTestID(a, "confirm").Click())
	must(t, expect.Locator(byTestID(a, "flash")).ToContainText("confirmed already (revision 4)"))
	// Confirm with nothing changed: nothing built, and the page says so.
	_, err = a.Goto(srv.url("/specs/shared"))
	must(t, err)
	must(t, byTestID(a, "confirm").Click())
	must(t, expect.Locator(byTestID(a, "flash")).ToContainText("Nothing changed"))
	if n := revisions(); n != 4 {
		t.Fatalf("%d revisions, want 4", n)
	}
	jobs, _ := store.ListJobs(t.Context(), "shared")
	waitJob(t, store, jobs[0].ID, time.Minute, db.StatusSucceeded)
}

// Reload after every form post in the portal opens a page by GET: no form
// is posted again and none leaves the browser on an address that only takes
// posts. Every form of every page is submitted (those that delete or sign
// out last), then the page is reloaded.
func TestReloadAfterEveryFormPostOpensAPage(t *testing.T) {
	in := newInstance(t)
	busybox := in.importBase(baseTar(t, "busybox.tar"), "library/busybox:latest", "BusyBox")
	srv := in.serve()
	store := in.store()
	for _, f := range []struct {
		path string
		form url.Values
	}{
		{"/settings/secrets", url.Values{"name": {"team"}, "content": {`{"auths":{"r.example.com":{"auth":"dTpw"}}}`}}},
		{"/settings/webhooks", url.Values{"url": {"https://hooks.example.com/x"}, "secret": {"a-receiver-secret-1234"}, "events": {"job.failed"}}},
		{"/specs", url.Values{"name": {"crawled"}, "baseImage": {busybox}}},
		{"/specs", url.Values{"name": {"broken"}, "baseImage": {busybox}, "apt": {"jq"}}},
	} {
		if resp := srv.postForm(f.path, f.form); resp.StatusCode != 303 {
			t.Fatalf("%s: %s", f.path, resp.Status)
		}
	}
	for _, name := range []string{"crawled", "broken"} {
		jobs, _ := store.ListJobs(t.Context(), name)
		waitJob(t, store, jobs[0].ID, time.Minute, db.StatusSucceeded, db.StatusFailed)
	}
	good, _ := store.ListJobs(t.Context(), "crawled")
	bad, _ := store.ListJobs(t.Context(), "broken")
	pages := []string{"/specs", "/specs/new", "/specs/crawled", "/specs/crawled/jobs", fmt.Sprintf("/jobs/%d", good[0].ID),
		fmt.Sprintf("/jobs/%d", bad[0].ID), "/builds", "/images", "/settings/secrets", "/settings/registry", "/settings/builds",
		"/settings/webhooks", "/settings/storage", "/settings/audit", "/account"}
	page := newPage(t, "en-US")
	signIn(t, page, srv, "/specs")
	// A form is found again by its action and its place among the forms
	// with that action.
	type target struct {
		page, action string
		index        int
	}
	var targets []target
	header := map[string]bool{} // the header's forms are on every page: once is enough
	for _, p := range pages {
		_, err := page.Goto(srv.url(p))
		must(t, err)
		res, err := page.Evaluate(`() => Array.from(document.querySelectorAll("form")).map(f => f.method + " " + (f.getAttribute("action") || ""))`)
		must(t, err)
		seen := map[string]int{}
		for _, f := range res.([]interface{}) {
			method, action, _ := strings.Cut(f.(string), " ")
			i := seen[action]
			seen[action]++
			if method != "post" || header[action] {
				continue
			}
			if action == "/logout" || action == "/lang" {
				header[action] = true
			}
			targets = append(targets, target{page: p, action: action, index: i})
		}
	}
	// What deletes or signs out goes last, signing out the very last.
	rank := func(tg target) int {
		switch {
		case tg.action == "/logout":
			return 3
		case strings.Contains(tg.action, "/sessions/"):
			return 2
		case strings.Contains(tg.action, "delete"):
			return 1
		}
		return 0
	}
	sort.SliceStable(targets, func(i, j int) bool { return rank(targets[i]) < rank(targets[j]) })
	if len(targets) < 30 {
		t.Fatalf("only %d forms found", len(targets))
	}
	for _, tg := range targets {
		resp, err := page.Goto(srv.url(tg.page))
		must(t, err)
		if resp.Status() == 404 {
			continue // a form before this one deleted what the page shows
		}
		// A form in a dialog is reached through its opener (which fills it
		// in); then what must be filled is, and the form is sent as a click
		// would send it.
		found, err := page.Evaluate(`([action, i]) => {
			const f = Array.from(document.querySelectorAll("form")).filter(f => (f.getAttribute("action") || "") === action)[i];
			if (!f) return false;
			const dialog = f.closest("dialog");
			if (dialog) {
				const opener = document.querySelector("[data-dialog='" + dialog.id + "']");
				if (!opener) return false;
				opener.click(); // fills the form in for its row
			}
			f.querySelectorAll("input[required], textarea[required]").forEach(el => { if (!el.value) el.value = el.type === "url" ? "https://example.com" : "crawler"; });
			f.requestSubmit();
			return true;
		}`, []interface{}{tg.action, tg.index})
		must(t, err)
		if found != true {
			continue // what the form was for is gone
		}
		must(t, page.WaitForLoadState(playwright.PageWaitForLoadStateOptions{State: playwright.LoadStateNetworkidle}))
		landed := page.URL()
		resp, err = page.Reload()
		must(t, err)
		what := fmt.Sprintf("%s on %s, landed on %s", tg.action, tg.page, landed)
		if resp.Request().Method() != "GET" {
			t.Errorf("%s: reload sent a %s", what, resp.Request().Method())
		}
		body, _ := page.Locator("body").TextContent()
		if resp.Status() >= 400 || strings.Contains(body, "Method Not Allowed") {
			t.Errorf("%s: reload answered %d %q", what, resp.Status(), strings.TrimSpace(body)[:min(80, len(strings.TrimSpace(body)))])
		}
	}
}
