package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/playwright-community/playwright-go"
)

func TestPortalCreateWatchBuildDownloadEditDelete(t *testing.T) {
	in := newInstance(t)
	debian := in.importBase(baseTar(t, "debian-bookworm.tar"), "library/debian:bookworm", "Debian 12 (bookworm)")
	busybox := in.importBase(baseTar(t, "busybox.tar"), "library/busybox:latest", "BusyBox")
	srv := in.serve()
	store := in.store()
	page := newPage(t, "en-US")
	shot := &shots{t: t, page: page}

	signIn(t, page, srv, "/specs")
	must(t, expect.Locator(byTestID(page, "empty-state")).ToBeVisible())
	shot.take("list-empty")

	// Create: autocompletion offers the Image Management entries.
	must(t, byTestID(page, "add-spec").Click())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/specs/new$`)))
	options := page.Locator("#base-images option")
	must(t, expect.Locator(options).ToHaveCount(2))
	values, err := options.EvaluateAll(`os => os.map(o => o.value)`)
	must(t, err)
	if got := fmt.Sprint(values); !strings.Contains(got, debian) || !strings.Contains(got, busybox) {
		t.Fatalf("autocompletion offers %v", got)
	}
	must(t, byTestID(page, "name").Fill("data-tools"))
	must(t, byTestID(page, "base-image").Fill(debian))
	must(t, byTestID(page, "apt").Fill("jq"))
	// The Containerfile preview shows what Confirm will build, and follows
	// what is typed.
	must(t, byTestID(page, "preview").Locator("summary").Click())
	previewFile := byTestID(page, "preview-file")
	must(t, expect.Locator(previewFile).ToContainText(`"apt","jq"]`))
	must(t, byTestID(page, "apt").Fill("jq\ncurl"))
	must(t, expect.Locator(previewFile).ToContainText(`"apt","jq","curl"]`))
	must(t, byTestID(page, "apt").Fill("jq"))
	must(t, expect.Locator(previewFile).ToContainText(`"apt","jq"]`))
	shot.take("create-filled")
	must(t, byTestID(page, "confirm").Click())
	// Create lands on the new spec's Jobs tab and says so.
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/specs/data-tools/jobs$`)))
	must(t, expect.Locator(byTestID(page, "flash")).ToHaveText(`Image spec “data-tools” created: revision 1 is queued.`))
	must(t, byTestID(page, "nav-builder").Click())
	row := page.Locator(`[data-testid="spec-row"][data-name="data-tools"]`)
	must(t, expect.Locator(row).ToBeVisible())

	// A second spec waits while the first builds: Pending, then Building,
	// then Succeeded, on the list without a reload.
	must(t, byTestID(page, "add-spec").Click())
	must(t, byTestID(page, "name").Fill("tiny"))
	must(t, byTestID(page, "base-image").Fill(busybox))
	must(t, byTestID(page, "confirm").Click())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/specs/tiny/jobs$`)))
	must(t, byTestID(page, "nav-builder").Click())
	tiny := page.Locator(`[data-testid="spec-row"][data-name="tiny"] [data-testid="status"]`)
	must(t, expect.Locator(tiny).ToHaveAttribute("data-status", "pending"))
	shot.take("list-pending")

	// The first job's page: its log grows live over SSE, then it succeeds.
	must(t, row.Locator("a.badge-link").Click())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/jobs/\d+$`)))
	_, err = page.Evaluate(`window.__sameDocument = true`)
	must(t, err)
	status := byTestID(page, "job-meta").Locator(`[data-testid="status"]`)
	must(t, expect.Locator(status).ToHaveAttribute("data-status", regexp.MustCompile(`pending|building`)))
	// While it builds, its running time ticks.
	elapsed := byTestID(page, "elapsed")
	must(t, expect.Locator(elapsed).ToHaveText(regexp.MustCompile(`^\d+s$`)))
	first, err := elapsed.TextContent()
	must(t, err)
	must(t, expect.Locator(elapsed).Not().ToHaveText(first))
	shot.take("job-building")
	must(t, expect.Locator(byTestID(page, "log")).ToContainText("Setting up jq"))
	must(t, expect.Locator(status).ToHaveAttribute("data-status", "succeeded"))
	same, err := page.Evaluate(`window.__sameDocument === true`)
	must(t, err)
	if same != true {
		t.Fatal("the job page reloaded instead of following the log live")
	}
	must(t, expect.Locator(byTestID(page, "job-image")).ToHaveText(in.regAddr+"/data-tools:1"))
	shot.take("job-succeeded")

	// The full log download is the file on disk, byte for byte.
	jobs, err := store.ListJobs(t.Context(), "data-tools")
	must(t, err)
	download, err := page.ExpectDownload(func() error { return byTestID(page, "download-log").Click() })
	must(t, err)
	saved := filepath.Join(t.TempDir(), "job.log")
	must(t, download.SaveAs(saved))
	got, _ := os.ReadFile(saved)
	want, _ := os.ReadFile(in.logPath(jobs[0].ID))
	if len(want) == 0 || string(got) != string(want) {
		t.Fatalf("downloaded %d bytes, the log file has %d", len(got), len(want))
	}
	if name := download.SuggestedFilename(); name != fmt.Sprintf("data-tools-revision-1-job-%d.log", jobs[0].ID) {
		t.Errorf("download name %q", name)
	}

	// Packages: the requested package is marked, the filter narrows the
	// table without a reload, both SBOMs parse and name jq, and the pinned
	// spec pins jq to the version installed.
	packages := byTestID(page, "packages")
	jqRow := packages.Locator(`[data-testid="package-row"][data-name="jq"]`)
	must(t, expect.Locator(jqRow.Locator(`[data-testid="package-requested"]`)).ToBeVisible())
	must(t, expect.Locator(packages.Locator(`[data-testid="packages-count"][data-type="deb"]`)).ToBeVisible())
	_, err = page.Evaluate(`window.__samePackages = true`)
	must(t, err)
	must(t, byTestID(page, "packages-q").PressSequentially("libjq"))
	must(t, expect.Locator(packages.Locator(`[data-testid="package-row"]`)).ToHaveCount(1))
	must(t, expect.Locator(packages.Locator(`[data-testid="package-row"][data-name="libjq1"]`)).ToBeVisible())
	shot.take("job-packages-filtered")
	if same, _ := page.Evaluate(`window.__samePackages === true`); same != true {
		t.Fatal("filtering the packages reloaded the page")
	}
	must(t, byTestID(page, "packages-q").Fill(""))
	must(t, expect.Locator(jqRow).ToBeVisible())
	jqVersion, err := jqRow.Locator("code").TextContent()
	must(t, err)
	purls := map[string][]string{}
	for _, id := range []string{"sbom-spdx", "sbom-cyclonedx"} {
		download, err := page.ExpectDownload(func() error { return byTestID(page, id).Click() })
		must(t, err)
		saved := filepath.Join(t.TempDir(), id+".json")
		must(t, download.SaveAs(saved))
		raw, _ := os.ReadFile(saved)
		var doc struct {
			Packages []struct {
				ExternalRefs []struct{ ReferenceLocator string }
			}
			Components []struct{ Purl string }
		}
		if err := json.Unmarshal(raw, &doc); err != nil || !strings.Contains(string(raw), `"pkg:deb/debian/jq@`+strings.ReplaceAll(jqVersion, "+", "%2B")+"?") {
			t.Fatalf("%s: %v, no purl for jq %q in\n%s", id, err, jqVersion, raw)
		}
		for _, p := range doc.Packages {
			for _, r := range p.ExternalRefs {
				purls[id] = append(purls[id], r.ReferenceLocator)
			}
		}
		for _, c := range doc.Components {
			purls[id] = append(purls[id], c.Purl)
		}
		sort.Strings(purls[id])
	}
	if n := packages.Locator(`[data-testid="package-row"]`); len(purls["sbom-spdx"]) < 50 || strings.Join(purls["sbom-spdx"], " ") != strings.Join(purls["sbom-cyclonedx"], " ") {
		t.Fatalf("the SBOMs name different packages:\nSPDX %v\nCycloneDX %v", purls["sbom-spdx"], purls["sbom-cyclonedx"])
	} else if rows, _ := n.Count(); rows != len(purls["sbom-spdx"]) {
		t.Fatalf("the page lists %d packages, the SBOMs %d", rows, len(purls["sbom-spdx"]))
	}
	must(t, byTestID(page, "pinned-spec").Locator("summary").Click())
	must(t, expect.Locator(byTestID(page, "pinned-spec")).ToContainText("jq="+jqVersion))
	must(t, expect.Locator(byTestID(page, "pinned-base")).ToContainText("@sha256:"))
	shot.take("job-packages-pinned")

	// The list shows the image URL and both specs succeeded.
	_, err = page.Goto(srv.url("/specs"))
	must(t, err)
	must(t, expect.Locator(row.Locator(`[data-testid="spec-image"]`)).ToHaveText(in.regAddr+"/data-tools:1"))
	must(t, expect.Locator(tiny).ToHaveAttribute("data-status", "succeeded"))
	shot.take("list-succeeded")

	// The filter box narrows the list as one types, without a reload.
	_, err = page.Evaluate(`window.__sameList = true`)
	must(t, err)
	must(t, byTestID(page, "list-q").PressSequentially("tin"))
	must(t, expect.Locator(byTestID(page, "spec-row")).ToHaveCount(1))
	must(t, expect.Locator(row).ToHaveCount(0))
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/specs\?q=tin`)))
	shot.take("list-filtered")
	if same, _ := page.Evaluate(`window.__sameList === true`); same != true {
		t.Fatal("filtering reloaded the page")
	}
	must(t, byTestID(page, "list-q").Fill(""))
	must(t, expect.Locator(byTestID(page, "spec-row")).ToHaveCount(2))

	// View opens the latest job; the job shows how long it took.
	must(t, row.Locator(`[data-testid="view-spec"]`).Click())
	must(t, expect.Page(page).ToHaveURL(srv.url(fmt.Sprintf("/jobs/%d", jobs[0].ID))))
	must(t, expect.Locator(byTestID(page, "job-duration")).ToHaveText(regexp.MustCompile(`^\s*\d+(s|m \d\ds)\s*$`)))
	must(t, expect.Locator(byTestID(page, "back-to-jobs")).ToHaveText("← Jobs of data-tools"))
	_, err = page.Goto(srv.url("/specs"))
	must(t, err)

	// Edit: an invalid conda line is reported next to its field and what
	// was typed stays.
	must(t, row.Locator(`[data-testid="edit-spec"]`).Click())
	must(t, expect.Locator(byTestID(page, "name")).ToHaveAttribute("readonly", ""))
	// The Info tab lists the image of the latest successful build (seed).
	must(t, expect.Locator(byTestID(page, "info-image-url")).ToHaveText(in.regAddr+"/data-tools:1"))
	shot.take("edit-info")
	must(t, byTestID(page, "conda").Fill("conda-forge::numpy==1.17*\nnumpy[foo=bar]"))
	must(t, byTestID(page, "pip").Fill("requests>=2.31"))
	must(t, byTestID(page, "confirm").Click())
	must(t, expect.Locator(byTestID(page, "conda-errors")).ToContainText(`Line 2: unknown key "foo"`))
	must(t, expect.Locator(byTestID(page, "conda")).ToHaveValue("conda-forge::numpy==1.17*\nnumpy[foo=bar]"))
	must(t, expect.Locator(byTestID(page, "pip")).ToHaveValue("requests>=2.31"))
	must(t, expect.Locator(byTestID(page, "apt")).ToHaveValue("jq"))
	shot.take("edit-error")
	if spec, _ := store.GetSpec(t.Context(), "data-tools"); len(spec.Conda) != 0 || len(spec.Pip) != 0 {
		t.Fatalf("the invalid edit was saved: %+v", spec)
	}

	// A valid edit builds revision 2 and shows it in Jobs.
	must(t, byTestID(page, "conda").Fill(""))
	must(t, byTestID(page, "pip").Fill(""))
	must(t, byTestID(page, "apt").Fill("jq\n# a comment line"))
	must(t, byTestID(page, "confirm").Click())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/specs/data-tools/jobs$`)))
	rev2 := page.Locator(`[data-testid="job-row"][data-revision="2"] [data-testid="status"]`)
	must(t, expect.Locator(rev2).ToHaveAttribute("data-status", "succeeded"))
	must(t, expect.Locator(byTestID(page, "job-row")).ToHaveCount(2))
	// Each succeeded job lists its image URL and duration (seed: "these
	// jobs/image urls are listed here").
	for rev := 1; rev <= 2; rev++ {
		r := page.Locator(fmt.Sprintf(`[data-testid="job-row"][data-revision="%d"]`, rev))
		must(t, expect.Locator(r.Locator(`[data-testid="job-image-url"]`)).ToHaveText(fmt.Sprintf("%s/data-tools:%d", in.regAddr, rev)))
		must(t, expect.Locator(r.Locator(`[data-testid="duration"]`)).ToHaveText(regexp.MustCompile(`^\d+(s|m \d\ds)$`)))
		must(t, expect.Locator(r.Locator(`[data-testid="job-requested-by"]`)).ToHaveText("by "+adminUser))
	}
	// Revision 2 only added a comment: its image is revision 1's, and the
	// Jobs tab says nothing changed; Compare shows the two side by side.
	rev2Packages := page.Locator(`[data-testid="job-row"][data-revision="2"] [data-testid="diff-summary"]`)
	must(t, expect.Locator(rev2Packages).ToHaveText(regexp.MustCompile(`^\s*\+0\s+−0\s+~0\s+packages vs revision 1\s*$`)))
	must(t, rev2Packages.Click())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/specs/data-tools/compare\?from=1&to=2$`)))
	must(t, expect.Locator(byTestID(page, "compare-same")).ToBeVisible())
	must(t, expect.Locator(byTestID(page, "spec-line-added")).ToHaveCount(0))
	shot.take("compare-same")
	_, err = page.Goto(srv.url("/specs/data-tools/jobs"))
	must(t, err)
	// Rebuild revision 1: a new revision 3 from its snapshot.
	must(t, page.Locator(`[data-testid="job-row"][data-revision="1"] [data-testid="rebuild-job"]`).Click())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/jobs/\d+$`)))
	must(t, expect.Locator(page.Locator("h1")).ToContainText("3"))
	must(t, expect.Locator(byTestID(page, "job-requested-by")).ToHaveText(adminUser))
	must(t, expect.Locator(byTestID(page, "job-meta").Locator(`[data-testid="status"]`)).ToHaveAttribute("data-status", "succeeded"))
	_, err = page.Goto(srv.url("/specs/data-tools/jobs"))
	must(t, err)
	must(t, expect.Locator(byTestID(page, "job-row")).ToHaveCount(3))
	shot.take("jobs-tab")

	// Rebuild pinned: revision 1's pinned spec becomes revision 4, built
	// with jq at the same version.
	_, err = page.Goto(srv.url(fmt.Sprintf("/jobs/%d", jobs[0].ID)))
	must(t, err)
	must(t, byTestID(page, "pinned-spec").Locator("summary").Click())
	must(t, byTestID(page, "rebuild-pinned").Click())
	must(t, expect.Locator(page.Locator("h1")).ToContainText("4"))
	must(t, expect.Locator(byTestID(page, "job-meta").Locator(`[data-testid="status"]`)).ToHaveAttribute("data-status", "succeeded"))
	must(t, expect.Locator(byTestID(page, "job-spec")).ToContainText("jq="+jqVersion))
	must(t, expect.Locator(page.Locator(`[data-testid="package-row"][data-name="jq"] code`)).ToHaveText(jqVersion))
	shot.take("job-pinned-rebuild")

	// Rollback: revision 4 is active; with the alias on, data-tools:active
	// is its image; making revision 1 active changes the list's image URL
	// and moves the alias; back to automatic, revision 4 again.
	all, err := store.ListJobs(t.Context(), "data-tools")
	must(t, err)
	digestOf := map[int]string{}
	for _, j := range all {
		digestOf[j.Revision] = j.Digest
	}
	tagDigest := func(tag string) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodHead, "http://"+in.regAddr+"/v2/data-tools/manifests/"+tag, nil)
		req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return ""
		}
		return resp.Header.Get("Docker-Content-Digest")
	}
	aliasDigest := func() string { return tagDigest("active") }
	_, err = page.Goto(srv.url("/specs/data-tools/jobs"))
	must(t, err)
	rowOf := func(rev int) playwright.Locator {
		return page.Locator(fmt.Sprintf(`[data-testid="job-row"][data-revision="%d"]`, rev))
	}
	must(t, expect.Locator(rowOf(4).Locator(`[data-testid="job-active"]`)).ToBeVisible())
	must(t, byTestID(page, "alias-on").Check())
	must(t, byTestID(page, "alias-save").Click())
	must(t, expect.Locator(byTestID(page, "active-revision")).ToHaveAttribute("data-alias", "true"))
	if got := aliasDigest(); got != digestOf[4] {
		t.Fatalf("data-tools:active is %q, want revision 4's %s", got, digestOf[4])
	}
	must(t, rowOf(1).Locator(`[data-testid="make-active"]`).Click())
	must(t, expect.Locator(rowOf(1).Locator(`[data-testid="job-active"]`)).ToBeVisible())
	must(t, expect.Locator(byTestID(page, "active-summary")).ToContainText("chosen by an administrator"))
	shot.take("jobs-rolled-back")
	if got := aliasDigest(); got != digestOf[1] {
		t.Fatalf("after the rollback data-tools:active is %q, want revision 1's %s", got, digestOf[1])
	}
	_, err = page.Goto(srv.url("/specs"))
	must(t, err)
	must(t, expect.Locator(row.Locator(`[data-testid="spec-image"]`)).ToHaveText(in.regAddr+"/data-tools:1"))
	must(t, expect.Locator(row.Locator(`[data-testid="spec-pinned"]`)).ToHaveText("revision 1, chosen"))
	shot.take("list-rolled-back")
	_, err = page.Goto(srv.url("/specs/data-tools/jobs"))
	must(t, err)
	must(t, byTestID(page, "make-auto").Click())
	must(t, expect.Locator(rowOf(4).Locator(`[data-testid="job-active"]`)).ToBeVisible())
	_, err = page.Goto(srv.url("/specs"))
	must(t, err)
	must(t, expect.Locator(row.Locator(`[data-testid="spec-image"]`)).ToHaveText(in.regAddr+"/data-tools:4"))
	if got := aliasDigest(); got != digestOf[4] {
		t.Fatalf("back to automatic data-tools:active is %q, want revision 4's %s", got, digestOf[4])
	}

	// Retention: this spec keeps its two newest succeeded jobs; Run now
	// on the Storage page deletes revisions 2 and then 1 (whose image only
	// revision 2 reused), their tags with them; 3 and 4 still pull.
	_, err = page.Goto(srv.url("/specs/data-tools/jobs"))
	must(t, err)
	must(t, byTestID(page, "spec-retention").Locator("summary").Click())
	must(t, byTestID(page, "spec-retention-inherit").Uncheck())
	must(t, byTestID(page, "spec-retention-keep-succeeded").Fill("x"))
	must(t, byTestID(page, "spec-retention-save").Click())
	must(t, expect.Locator(byTestID(page, "spec-retention-keep-succeeded-errors")).ToContainText(`"x" is not a whole number`))
	shot.take("jobs-retention-error")
	must(t, byTestID(page, "spec-retention-keep-succeeded").Fill("2"))
	must(t, byTestID(page, "spec-retention-save").Click())
	must(t, byTestID(page, "spec-retention").Locator("summary").Click())
	must(t, expect.Locator(byTestID(page, "spec-retention-keep-succeeded")).ToHaveValue("2"))
	must(t, expect.Locator(byTestID(page, "spec-retention-inherit")).Not().ToBeChecked())
	_, err = page.Goto(srv.url("/settings/storage"))
	must(t, err)
	must(t, byTestID(page, "housekeeping-run").Click())
	must(t, expect.Locator(byTestID(page, "housekeeping-ran")).ToContainText("Deleted: jobs 2, revision tags 2"))
	must(t, expect.Locator(byTestID(page, "housekeeping-row").First().Locator(`[data-testid="housekeeping-jobs"]`)).ToHaveText("2"))
	must(t, expect.Locator(byTestID(page, "largest-spec")).Not().ToHaveCount(0))
	shot.take("storage-housekept")
	// The schedule is a setting: saved, it is what the page shows next.
	must(t, byTestID(page, "schedule-housekeeping").Fill("2h"))
	must(t, byTestID(page, "schedule-base-check").Fill("0"))
	must(t, byTestID(page, "schedule-delete-external").Check())
	must(t, byTestID(page, "schedule-save").Click())
	must(t, expect.Locator(byTestID(page, "schedule-saved")).ToBeVisible())
	_, err = page.Reload()
	must(t, err)
	must(t, expect.Locator(byTestID(page, "schedule-housekeeping")).ToHaveValue("2h"))
	must(t, expect.Locator(byTestID(page, "schedule-base-check")).ToHaveValue("0"))
	must(t, expect.Locator(byTestID(page, "schedule-delete-external")).ToBeChecked())
	for rev, want := range map[int]string{1: "", 2: "", 3: digestOf[3], 4: digestOf[4]} {
		if got := tagDigest(fmt.Sprint(rev)); got != want {
			t.Errorf("data-tools:%d is %q after retention, want %q", rev, got, want)
		}
	}
	_, err = page.Goto(srv.url("/specs/data-tools/jobs"))
	must(t, err)
	must(t, expect.Locator(byTestID(page, "job-row")).ToHaveCount(2))

	// Delete: Cancel keeps the spec, OK removes it.
	_, err = page.Goto(srv.url("/specs"))
	must(t, err)
	tinyRow := page.Locator(`[data-testid="spec-row"][data-name="tiny"]`)
	must(t, tinyRow.Locator(`[data-testid="delete-spec"]`).Click())
	dialog := page.Locator("dialog#delete-dialog")
	must(t, expect.Locator(dialog).ToBeVisible())
	must(t, expect.Locator(dialog).ToContainText("tiny"))
	shot.take("delete-dialog")
	must(t, dialog.Locator(`[data-testid="delete-cancel"]`).Click())
	must(t, expect.Locator(dialog).ToBeHidden())
	must(t, expect.Locator(tinyRow).ToBeVisible())
	must(t, tinyRow.Locator(`[data-testid="delete-spec"]`).Click())
	must(t, dialog.Locator(`[data-testid="delete-ok"]`).Click())
	must(t, expect.Locator(tinyRow).ToHaveCount(0))
	must(t, expect.Locator(row).ToBeVisible())
	shot.take("list-after-delete")
	if _, err := store.GetSpec(t.Context(), "tiny"); err == nil {
		t.Fatal("tiny is still stored")
	}

	// At 800 px the pages still fit: no horizontal scrolling.
	must(t, page.SetViewportSize(800, 900))
	for _, path := range []string{"/specs", fmt.Sprintf("/jobs/%d", jobs[0].ID), "/specs/data-tools"} {
		_, err := page.Goto(srv.url(path))
		must(t, err)
		wide, err := page.Evaluate(`document.documentElement.scrollWidth`)
		must(t, err)
		if w, _ := wide.(int); w > 800 {
			t.Errorf("%s is %d px wide at an 800 px window", path, w)
		}
		shot.take("narrow-" + strings.Trim(strings.ReplaceAll(path, "/", "-"), "-"))
	}
}

func TestRegistryWarningWhenNoRegistryAnswers(t *testing.T) {
	in := newInstance(t)
	srv := in.serve("--registry", freeAddr(t), "--registry-insecure")
	page := newPage(t, "en-US")
	shot := &shots{t: t, page: page}
	signIn(t, page, srv, "/specs")
	must(t, expect.Locator(byTestID(page, "registry-warning")).ToContainText("image registry not found"))
	shot.take("list-warning")
	_, err := page.Goto(srv.url("/specs/new"))
	must(t, err)
	must(t, expect.Locator(byTestID(page, "registry-warning")).ToBeVisible())
	shot.take("create-warning")
}

func TestTraditionalChineseLabelsAndLanguageSwitch(t *testing.T) {
	in := newInstance(t)
	busybox := in.importBase(baseTar(t, "busybox.tar"), "library/busybox:latest", "BusyBox")
	srv := in.serve()
	page := newPage(t, "zh-TW")
	shot := &shots{t: t, page: page}
	signIn(t, page, srv, "/specs")
	must(t, expect.Locator(byTestID(page, "add-spec")).ToHaveText("+ 新增"))
	must(t, expect.Locator(byTestID(page, "empty-state")).ToContainText("目前沒有客製化 image spec"))
	shot.take("list-empty-zh")
	must(t, byTestID(page, "add-spec").Click())
	must(t, expect.Locator(page.Locator("h1")).ToHaveText("新增客製化 Image Spec"))
	must(t, expect.Locator(page.Locator("label[for=name]")).ToContainText("名稱"))
	// The name is checked as it is typed, and the answer is in Chinese.
	// Every problem is named and the field is marked invalid.
	must(t, byTestID(page, "name").PressSequentially("Zh_demo!"))
	nameErrors := byTestID(page, "name-errors")
	must(t, expect.Locator(nameErrors).ToContainText(`"Zh_demo!" 含有大寫字母`))
	must(t, expect.Locator(nameErrors).ToContainText(`含有 '_'`))
	must(t, expect.Locator(nameErrors).ToContainText(`含有 '!'`))
	must(t, expect.Locator(byTestID(page, "name")).ToHaveAttribute("aria-invalid", "true"))
	shot.take("create-live-name-check-zh")
	must(t, byTestID(page, "name").Fill("zh-demo"))
	must(t, byTestID(page, "name").Press("End"))
	must(t, expect.Locator(nameErrors).ToBeEmpty())
	must(t, expect.Locator(byTestID(page, "name")).ToHaveAttribute("aria-invalid", "false"))
	must(t, byTestID(page, "base-image").Fill(busybox))
	// A bad line: the summary at the top links to the field, in Chinese.
	must(t, byTestID(page, "apt").Fill("Bad Package"))
	must(t, byTestID(page, "confirm").Click())
	summary := byTestID(page, "error-summary")
	must(t, expect.Locator(summary).ToContainText("請修正下方標示的欄位"))
	must(t, expect.Locator(summary.Locator(`a[href="#apt"]`)).ToHaveText("APT"))
	must(t, expect.Locator(byTestID(page, "apt")).ToHaveAttribute("aria-invalid", "true"))
	shot.take("create-error-summary-zh")
	must(t, byTestID(page, "apt").Fill(""))
	must(t, byTestID(page, "confirm").Click())
	must(t, expect.Locator(byTestID(page, "flash")).ToContainText("已新增 image spec「zh-demo」"))
	must(t, byTestID(page, "nav-builder").Click())
	status := page.Locator(`[data-testid="spec-row"][data-name="zh-demo"] [data-testid="status"]`)
	must(t, expect.Locator(status).ToHaveText("成功"))
	must(t, expect.Locator(page.Locator("th").First()).ToHaveText("名稱"))
	shot.take("list-zh")
	if _, err := byTestID(page, "lang-select").SelectOption(playwright.SelectOptionValues{Values: &[]string{"en"}}); err != nil {
		t.Fatal(err)
	}
	must(t, expect.Locator(byTestID(page, "add-spec")).ToHaveText("+ Add"))
	must(t, expect.Locator(status).ToHaveText("Succeeded"))
	shot.take("list-en-after-switch")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
