package e2e

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"imagebuilder/builder/spec/spectest"
	"imagebuilder/db"
)

// An administrator sets a private Pip index (with a password) and build
// limits in the browser: the password is never shown again, saving the
// page unchanged keeps it, and a real build installs from the index. The
// job page lists the sources without the password; neither the log nor
// any page holds it.
func TestBuildSettingsPrivatePipIndexAndLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads Debian packages")
	}
	const password = "e2e-INDEX-secret-41c7"
	ix := spectest.ServePyIndex(t, "ci", password, spectest.Wheel{Name: "alpha", Version: "1.0"}, spectest.Wheel{Name: "alpha", Version: "2.0"})
	in := newInstance(t)
	debian := in.importBase(baseTar(t, "debian-bookworm.tar"), "library/debian:bookworm", "Debian")
	srv := in.serve()
	store := in.store()
	page := newPage(t, "en-US")
	shot := &shots{t: t, page: page}
	signIn(t, page, srv, "/settings/builds")

	// A bad URL is refused next to its field; nothing is saved.
	must(t, byTestID(page, "sources-pip-index").Fill("ftp://nope/simple"))
	must(t, byTestID(page, "sources-save").Click())
	must(t, expect.Locator(byTestID(page, "sources-pip-index-errors")).ToContainText("is not an http:// or https:// URL"))
	must(t, byTestID(page, "sources-pip-index").Fill(ix.AuthURL()))
	must(t, byTestID(page, "sources-pip-trusted").Fill("127.0.0.1"))
	must(t, byTestID(page, "sources-save").Click())
	must(t, expect.Locator(byTestID(page, "sources-saved")).ToBeVisible())
	masked := strings.Replace(ix.AuthURL(), password, "****", 1)
	must(t, expect.Locator(byTestID(page, "sources-pip-index")).ToHaveValue(masked))
	// Saved again as shown: the stored password stays. (From a fresh load,
	// so the banner seen is the new page's, not the one being left.)
	_, err := page.Goto(srv.url("/settings/builds"))
	must(t, err)
	must(t, expect.Locator(byTestID(page, "sources-saved")).ToHaveCount(0))
	must(t, byTestID(page, "sources-save").Click())
	must(t, expect.Locator(byTestID(page, "sources-saved")).ToBeVisible())
	must(t, page.WaitForLoadState())
	html, err := page.Content()
	must(t, err)
	if strings.Contains(html, password) {
		t.Fatal("the settings page holds the index password")
	}

	// Limits: a too-small memory limit is refused, a good one saved.
	must(t, byTestID(page, "limits-memory").Fill("32MiB"))
	must(t, byTestID(page, "limits-save").Click())
	must(t, expect.Locator(byTestID(page, "limits-memory-errors")).ToContainText("at least 64MiB"))
	must(t, byTestID(page, "limits-memory").Fill("2GiB"))
	must(t, byTestID(page, "limits-cpus").Fill("1.5"))
	must(t, byTestID(page, "limits-save").Click())
	must(t, expect.Locator(byTestID(page, "limits-saved")).ToBeVisible())
	must(t, expect.Locator(byTestID(page, "limits-memory")).ToHaveValue("2GiB"))
	shot.take("build-settings")

	// A spec that needs the index builds with it.
	_, err = page.Goto(srv.url("/specs/new"))
	must(t, err)
	must(t, byTestID(page, "name").Fill("private-pip"))
	must(t, byTestID(page, "base-image").Fill(debian))
	must(t, byTestID(page, "apt").Fill("python3-pip"))
	must(t, byTestID(page, "pip").Fill("alpha"))
	must(t, byTestID(page, "confirm").Click())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/specs/private-pip/jobs$`)))
	jobs, err := store.ListJobs(t.Context(), "private-pip")
	must(t, err)
	job := waitJob(t, store, jobs[0].ID, 5*time.Minute, db.StatusSucceeded, db.StatusFailed)
	raw, _ := os.ReadFile(in.logPath(job.ID))
	if job.Status != db.StatusSucceeded || !strings.Contains(string(raw), "Successfully installed alpha-2.0") {
		t.Fatalf("job %s (%s):\n%s", job.Status, job.Failure.Text(), raw)
	}
	if strings.Contains(string(raw), password) {
		t.Error("the job log holds the index password")
	}
	if !strings.Contains(string(raw), "build limits: memory 2.0 GiB, CPU 1.5") {
		t.Errorf("the job log does not show the build limits:\n%s", raw)
	}
	_, err = page.Goto(srv.url(fmt.Sprintf("/jobs/%d", job.ID)))
	must(t, err)
	must(t, expect.Locator(byTestID(page, "job-sources")).ToContainText(masked))
	html, err = page.Content()
	must(t, err)
	if strings.Contains(html, password) {
		t.Error("the job page holds the index password")
	}
	shot.take("job-with-sources")

	// The Storage page shows what the build left in the package caches,
	// and Clear empties them.
	_, err = page.Goto(srv.url("/settings/storage"))
	must(t, err)
	must(t, expect.Locator(byTestID(page, "cache-APT").Locator("td").Nth(1)).Not().ToHaveText("0 B"))
	must(t, expect.Locator(byTestID(page, "cache-Pip").Locator("td").Nth(1)).Not().ToHaveText("0 B"))
	shot.take("storage-caches")
	must(t, byTestID(page, "caches-clear").Click())
	must(t, expect.Locator(byTestID(page, "caches-message")).ToContainText("The package caches are empty."))
	for _, c := range []string{"cache-APT", "cache-Conda", "cache-Pip"} {
		must(t, expect.Locator(byTestID(page, c).Locator("td").Nth(1)).ToHaveText("0 B"))
	}

	// Confirming the spec unchanged builds nothing, and says so.
	_, err = page.Goto(srv.url("/specs/private-pip"))
	must(t, err)
	must(t, byTestID(page, "confirm").Click())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/specs/private-pip/jobs$`)))
	must(t, expect.Locator(byTestID(page, "flash")).ToContainText("Nothing changed"))
	if jobs, _ := store.ListJobs(t.Context(), "private-pip"); len(jobs) != 1 {
		t.Fatalf("an unchanged Confirm queued a build: %d jobs", len(jobs))
	}
	// Back to revision 1's content after another: its image is reused
	// at once.
	for _, pip := range []string{"", "alpha"} {
		_, err = page.Goto(srv.url("/specs/private-pip"))
		must(t, err)
		must(t, byTestID(page, "pip").Fill(pip))
		must(t, byTestID(page, "confirm").Click())
		must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/specs/private-pip/jobs$`)))
		jobs, err = store.ListJobs(t.Context(), "private-pip")
		must(t, err)
		waitJob(t, store, jobs[0].ID, 2*time.Minute, db.StatusSucceeded)
	}
	again, _ := store.GetJob(t.Context(), jobs[0].ID)
	if again.Revision != 3 || again.Digest != job.Digest || again.ReusedFrom != job.ID {
		t.Fatalf("back to revision 1's content: %+v", again)
	}
	_, err = page.Goto(srv.url(fmt.Sprintf("/jobs/%d", again.ID)))
	must(t, err)
	must(t, expect.Locator(byTestID(page, "job-reused")).ToContainText("the image of revision 1 was reused"))
	shot.take("job-reused")
}
