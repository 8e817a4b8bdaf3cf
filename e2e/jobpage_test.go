package e2e

import (
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"imagebuilder/db"
)

// The job page while a build runs: the live tail follows the end until the
// user scrolls up, stays where they put it, follows again from the bottom;
// Cancel stops the build, Retry starts a new job from the same snapshot.
func TestJobPageAutoscrollCancelAndRetry(t *testing.T) {
	in := newInstance(t)
	chatty := in.importBase(busyboxWithAptGet(t,
		"i=0\nwhile [ $i -lt 2000 ]; do echo \"unpacking part $i\"; i=$((i+1)); sleep 0.03; done\nsleep 300\n"),
		"library/chatty-apt:1", "Chatty apt")
	srv := in.serve()
	store := in.store()
	if resp := srv.postForm("/specs", url.Values{"name": {"chatty"}, "baseImage": {chatty}, "apt": {"jq"}}); resp.StatusCode != 303 {
		t.Fatalf("create: %s", resp.Status)
	}
	jobs, err := store.ListJobs(t.Context(), "chatty")
	must(t, err)
	first := jobs[0]

	page := newPage(t, "en-US")
	shot := &shots{t: t, page: page}
	signIn(t, page, srv, fmt.Sprintf("/jobs/%d", first.ID))
	log := byTestID(page, "log")
	must(t, expect.Locator(log).ToContainText("unpacking part 60"))
	atEnd := func() bool {
		v, err := log.Evaluate(`l => l.scrollTop + l.clientHeight >= l.scrollHeight - 8`, nil)
		must(t, err)
		return v == true
	}
	scrollTop := func() float64 {
		v, err := log.Evaluate(`l => l.scrollTop`, nil)
		must(t, err)
		switch n := v.(type) {
		case int:
			return float64(n)
		case float64:
			return n
		}
		t.Fatalf("scrollTop is %T", v)
		return 0
	}
	if !atEnd() {
		t.Fatal("the live log does not follow its end")
	}
	shot.take("following")

	// Scrolled up, it stays put while lines keep arriving.
	_, err = log.Evaluate(`l => { l.scrollTop = 40; l.dispatchEvent(new Event("scroll")) }`, nil)
	must(t, err)
	must(t, expect.Locator(log).ToContainText("unpacking part 160"))
	if top := scrollTop(); top != 40 {
		t.Fatalf("the log jumped to %v after the user scrolled up to 40", top)
	}
	shot.take("scrolled-up")

	// Back at the bottom, it follows again.
	_, err = log.Evaluate(`l => { l.scrollTop = l.scrollHeight; l.dispatchEvent(new Event("scroll")) }`, nil)
	must(t, err)
	must(t, expect.Locator(log).ToContainText("unpacking part 220"))
	if !atEnd() {
		t.Fatal("the log stopped following after the user scrolled back to its end")
	}

	// Cancel: the build stops, the page says why and offers Retry.
	must(t, byTestID(page, "cancel-job").Click())
	status := byTestID(page, "job-meta").Locator(`[data-testid="status"]`)
	must(t, expect.Locator(status).ToHaveAttribute("data-status", "cancelled"))
	must(t, expect.Locator(byTestID(page, "job-error")).ToHaveText("cancelled by an administrator"))
	must(t, expect.Locator(byTestID(page, "cancel-job")).ToHaveCount(0))
	shot.take("cancelled")
	if j := waitJob(t, store, first.ID, 10*time.Second, db.StatusCancelled); j.FinishedAt.IsZero() {
		t.Fatalf("cancelled job has no finish time: %+v", j)
	}
	raw, _ := os.ReadFile(in.logPath(first.ID))
	if !strings.Contains(string(raw), "cancelled by an administrator") {
		t.Fatalf("the log does not say the job was cancelled:\n%s", lastLines(string(raw), 5))
	}

	// Retry: a new job (and image revision) of the same snapshot, linked to
	// the one it retries.
	must(t, byTestID(page, "retry-job").Click())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/jobs/\d+$`)))
	must(t, expect.Page(page).Not().ToHaveURL(regexp.MustCompile(fmt.Sprintf(`/jobs/%d$`, first.ID))))
	must(t, expect.Locator(page.Locator(fmt.Sprintf(`a[href="/jobs/%d"]`, first.ID))).ToBeVisible())
	must(t, expect.Locator(log).ToContainText("unpacking part 30"))
	shot.take("retried")
	jobs, err = store.ListJobs(t.Context(), "chatty")
	must(t, err)
	if len(jobs) != 2 || jobs[0].RetryOf != first.ID || jobs[0].Revision != first.Revision+1 ||
		fmt.Sprint(jobs[0].Snapshot) != fmt.Sprint(first.Snapshot) {
		t.Fatalf("after retry: %+v", jobs)
	}
	must(t, byTestID(page, "cancel-job").Click())
	must(t, expect.Locator(status).ToHaveAttribute("data-status", "cancelled"))
}
