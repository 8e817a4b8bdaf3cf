package e2e

import (
	"archive/tar"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/playwright-community/playwright-go"

	"imagebuilder/db"
)

// overflowJS finds text that does not fit its box on the current page,
// dialogs included: an element whose content is wider than itself while it
// does not scroll (overflow visible, hidden or clip), or whose box reaches
// past an ancestor that clips it. Scrolling containers (the log) are
// meant to scroll and are skipped; so is what is not shown.
const overflowJS = `() => {
  const out = [];
  const name = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (el.dataset && el.dataset.testid ? "[data-testid=" + el.dataset.testid + "]" : "") +
    (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\s+/).join(".") : "");
  const scrolls = cs => cs.overflowX === "auto" || cs.overflowX === "scroll";
  const shown = el => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
  for (const el of document.querySelectorAll("body *")) {
    if (!shown(el) || el.closest("pre.log")) continue;
    const cs = getComputedStyle(el);
    if (cs.display === "inline" || cs.display === "contents") continue;
    const hasText = Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim() !== "");
    if (!hasText && !["INPUT", "SELECT", "BUTTON", "TEXTAREA"].includes(el.tagName)) continue;
    if (!scrolls(cs) && el.scrollWidth > el.clientWidth + 1 && el.tagName !== "TEXTAREA" && el.tagName !== "INPUT") {
      out.push(name(el) + " is " + (el.scrollWidth - el.clientWidth) + "px too narrow for “" + el.textContent.trim().slice(0, 60) + "”");
      continue;
    }
    const r = el.getBoundingClientRect();
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const acs = getComputedStyle(a);
      if (scrolls(acs)) break;
      if (acs.overflowX === "hidden" || acs.overflowX === "clip" || a.tagName === "DIALOG") {
        const ar = a.getBoundingClientRect();
        if (r.right > ar.right + 1 || r.left < ar.left - 1) {
          out.push(name(el) + " runs " + Math.round(Math.max(r.right - ar.right, ar.left - r.left)) + "px past " + name(a) + ": “" + el.textContent.trim().slice(0, 60) + "”");
        }
        break;
      }
    }
  }
  if (document.documentElement.scrollWidth > window.innerWidth + 1) {
    out.push("the page scrolls sideways: " + document.documentElement.scrollWidth + "px wide in a " + window.innerWidth + "px window");
  }
  return out;
}`

// geometryJS checks what a reader relies on, beyond text fitting its box:
//   - every label of a details list (dt) sits beside its value (dd): on
//     the same row, the value to its right, or on a narrow screen right
//     above it, never a row off;
//   - status badges, table headings, tabs and menu entries hold one line;
//   - an image reference (code.ref) breaks only after "/", ":" or "@":
//     none of its parts takes two lines, but for one too long for any
//     line (ImageRef marks those).
const geometryJS = `() => {
  const out = [];
  const shown = el => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
  const text = el => el.textContent.trim().replace(/\s+/g, " ").slice(0, 50);
  for (const dt of document.querySelectorAll("dl dt")) {
    if (!shown(dt)) continue;
    const dd = dt.nextElementSibling;
    if (!dd || dd.tagName !== "DD") { out.push("label “" + text(dt) + "” has no value after it"); continue; }
    const a = dt.getBoundingClientRect(), b = dd.getBoundingClientRect();
    const beside = Math.abs(a.top - b.top) <= 6 && b.left >= a.right - 1;
    const above = b.top >= a.bottom - 2 && b.top - a.bottom <= 12 && Math.abs(a.left - b.left) <= 2;
    if (!beside && !above) {
      out.push("label “" + text(dt) + "” (top " + Math.round(a.top) + ") is not beside its value “" + text(dd) + "” (top " + Math.round(b.top) + ")");
    }
  }
  for (const dd of document.querySelectorAll("dl dd")) {
    if (shown(dd) && (!dd.previousElementSibling || dd.previousElementSibling.tagName !== "DT")) {
      out.push("value “" + text(dd) + "” has no label of its own");
    }
  }
  // The lines an element's own text takes: distinct tops of its text's
  // line boxes (a table cell is as tall as its row, whatever its text).
  const lines = el => {
    const tops = new Set();
    const walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      if (!n.data.trim()) continue;
      const r = document.createRange(); r.selectNodeContents(n);
      for (const rect of r.getClientRects()) if (rect.width > 0) tops.add(Math.round(rect.top / 4));
    }
    return tops.size;
  };
  for (const el of document.querySelectorAll(".badge, th, .tab, .nav-link, .menu-button")) {
    if (!shown(el)) continue;
    const n = lines(el);
    if (n > 1) out.push(el.tagName.toLowerCase() + "." + String(el.className).trim().replace(/\s+/g, ".") + " “" + text(el) + "” takes " + n + " lines");
  }
  for (const row of document.querySelectorAll(".retention-fields")) {
    const inputs = Array.from(row.querySelectorAll("input")).filter(shown);
    for (const a of inputs) for (const b of inputs) {
      const ra = a.closest(".field").getBoundingClientRect(), rb = b.closest(".field").getBoundingClientRect();
      if (Math.abs(ra.top - rb.top) < 4 && Math.abs(a.getBoundingClientRect().top - b.getBoundingClientRect().top) > 2) {
        out.push("inputs “" + a.name + "” and “" + b.name + "” side by side sit at different heights");
      }
    }
  }
  for (const part of document.querySelectorAll("code.ref .part:not(.long)")) {
    if (shown(part) && lines(part) > 1) {
      out.push("image reference “" + part.closest("code").textContent.slice(0, 60) + "” breaks inside “" + part.textContent + "”");
    }
  }
  return out;
}`

// textOverflow returns the overflowing and misplaced elements of the page
// as it is now.
func textOverflow(t *testing.T, page playwright.Page) []string {
	t.Helper()
	var out []string
	for _, js := range []string{overflowJS, geometryJS} {
		res, err := page.Evaluate(js)
		if err != nil {
			t.Fatalf("layout check: %v", err)
		}
		if list, ok := res.([]interface{}); ok {
			for _, v := range list {
				out = append(out, v.(string))
			}
		}
	}
	return out
}

// layoutWidths are the window widths every screen is checked at: a
// desktop, a small laptop or tablet, and a phone.
var layoutWidths = []int{1280, 800, 390}

// checkOverflow fails the test for text that does not fit or sits away
// from its label, at each of layoutWidths, then puts the width back.
func checkOverflow(t *testing.T, page playwright.Page, what string) {
	t.Helper()
	// Copied: the size Playwright returns changes with SetViewportSize.
	width, height := page.ViewportSize().Width, page.ViewportSize().Height
	for _, w := range layoutWidths {
		if w != width {
			must(t, page.SetViewportSize(w, height))
		}
		if bad := textOverflow(t, page); len(bad) > 0 {
			t.Errorf("%s at %d px (%s):\n  %s", what, w, page.URL(), strings.Join(bad, "\n  "))
		}
	}
	must(t, page.SetViewportSize(width, height))
}

// Every page and dialog of the portal, in English and Traditional Chinese,
// at 1280, 800 and 390 px: no text runs out of its box or away from its label, no inline script or
// style is refused by the CSP, and each is saved as a screenshot.
func TestEveryPageFitsInBothLanguages(t *testing.T) {
	in := newInstance(t)
	busybox := in.importBase(baseTar(t, "busybox.tar"), "library/busybox:latest", "BusyBox")
	srv := in.serve()
	store := in.store()
	// A webhook endpoint with a long URL that answers 500, so the
	// deliveries of the builds below show errors and retries.
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) }))
	defer hook.Close()
	if resp := srv.postForm("/settings/webhooks", url.Values{"url": {hook.URL + "/hooks/a-rather-long-path/that-tests-wrapping/of-webhook-urls"},
		"secret": {"overflow-test-secret"}, "events": {"job.succeeded", "job.failed", "job.cancelled"}}); resp.StatusCode != 303 {
		t.Fatalf("add webhook: %s", resp.Status)
	}
	// A spec with a long name and a succeeded build, so cells hold long text.
	long := "a-rather-long-image-spec-name-that-tests-wrapping.v2"
	if resp := srv.postForm("/specs", url.Values{"name": {long}, "baseImage": {busybox}}); resp.StatusCode != 303 {
		t.Fatalf("create: %s", resp.Status)
	}
	jobs, _ := store.ListJobs(t.Context(), long)
	job := waitJob(t, store, jobs[0].ID, time.Minute, db.StatusSucceeded)
	// A spec whose image holds packages of every type with long names,
	// then moved to plain busybox: its job page has a full packages table
	// and its Compare page removed packages and a changed base.
	packaged := in.importBase(packagedBusybox(t), "library/packaged:1", "Packaged")
	if resp := srv.postForm("/specs", url.Values{"name": {"packaged"}, "baseImage": {packaged}}); resp.StatusCode != 303 {
		t.Fatalf("create packaged: %s", resp.Status)
	}
	pjobs, _ := store.ListJobs(t.Context(), "packaged")
	pjob := waitJob(t, store, pjobs[0].ID, time.Minute, db.StatusSucceeded)
	if resp := srv.postForm("/specs/packaged", url.Values{"baseImage": {busybox}}); resp.StatusCode != 303 {
		t.Fatalf("edit packaged: %s", resp.Status)
	}
	pjobs, _ = store.ListJobs(t.Context(), "packaged")
	waitJob(t, store, pjobs[0].ID, time.Minute, db.StatusSucceeded)
	// A spec whose base image is replaced under the same tag: the list
	// and its Jobs tab say so once the bases are checked.
	moving := in.importBase(baseTar(t, "busybox.tar"), "library/moving:1", "Moving")
	if resp := srv.postForm("/specs", url.Values{"name": {"moving"}, "baseImage": {moving}}); resp.StatusCode != 303 {
		t.Fatalf("create moving: %s", resp.Status)
	}
	mjobs, _ := store.ListJobs(t.Context(), "moving")
	waitJob(t, store, mjobs[0].ID, time.Minute, db.StatusSucceeded)
	in.importBase(packagedBusybox(t), "library/moving:1", "Moving")
	// A failed build with a long name: the job page's details, the reason
	// on the list and the Jobs tab.
	failing := "a-failing-spec-with-a-rather-long-name-for-wrapping"
	if resp := srv.postForm("/specs", url.Values{"name": {failing}, "baseImage": {busybox}, "apt": {"python3-psycopg2-with-a-long-package-name"}}); resp.StatusCode != 303 {
		t.Fatalf("create failing: %s", resp.Status)
	}
	fjobs, _ := store.ListJobs(t.Context(), failing)
	fjob := waitJob(t, store, fjobs[0].ID, time.Minute, db.StatusFailed)
	for _, locale := range []string{"en-US", "zh-TW"} {
		page := newPage(t, locale)
		shot := &shots{t: t, page: page, kept: locale != "en-US"}
		visit := func(path, name string) {
			t.Helper()
			_, err := page.Goto(srv.url(path))
			must(t, err)
			must(t, page.WaitForLoadState())
			shot.take(locale + "-" + name)
		}
		visit("/login", "login")
		// A signed-out visitor sees no navigation to pages they cannot open.
		must(t, expect.Locator(page.Locator("header nav a")).ToHaveCount(0))
		signIn(t, page, srv, "/specs")
		must(t, byTestID(page, "check-bases").Click())
		must(t, expect.Locator(byTestID(page, "bases-checked")).ToBeVisible())
		must(t, expect.Locator(page.Locator(`[data-testid="spec-row"][data-name="moving"] [data-testid="base-updated"]`)).ToBeVisible())
		shot.take(locale + "-list")
		must(t, page.Locator(`[data-testid="delete-spec"]`).First().Click())
		must(t, expect.Locator(page.Locator("dialog#delete-dialog")).ToBeVisible())
		shot.take(locale + "-delete-dialog")
		must(t, page.Locator(`[data-testid="delete-cancel"]`).Click())
		visit("/specs/new", "create")
		must(t, byTestID(page, "name").Fill("bad..name"))
		must(t, byTestID(page, "base-image").Fill("not a reference"))
		must(t, byTestID(page, "pip").Fill("requests>>2\n-r x.txt"))
		must(t, byTestID(page, "confirm").Click())
		must(t, expect.Locator(byTestID(page, "error-summary")).ToBeVisible())
		shot.take(locale + "-create-errors")
		// A problem goes as soon as its field is right, without Confirm;
		// an invalid reference is not also "unreachable".
		must(t, expect.Locator(byTestID(page, "baseImage-warnings")).ToBeEmpty())
		must(t, byTestID(page, "pip").Fill("requests>=2"))
		must(t, expect.Locator(byTestID(page, "pip-errors")).ToBeEmpty())
		must(t, expect.Locator(byTestID(page, "error-summary").Locator(`a[href="#pip"]`)).ToHaveCount(0))
		must(t, expect.Locator(byTestID(page, "pip")).ToHaveAttribute("aria-invalid", "false"))
		must(t, expect.Locator(byTestID(page, "baseImage-errors")).Not().ToBeEmpty())
		visit("/specs/"+long, "edit-info")
		visit("/specs/"+long+"/jobs", "edit-jobs")
		visit(fmt.Sprintf("/jobs/%d", job.ID), "job")
		visit(fmt.Sprintf("/jobs/%d", fjob.ID), "job-failed")
		must(t, expect.Locator(byTestID(page, "job-error")).Not().ToBeEmpty())
		visit("/specs/"+failing+"/jobs", "failed-jobs")
		must(t, expect.Locator(byTestID(page, "job-reason")).Not().ToBeEmpty())
		visit("/specs?status=failed", "list-failed")
		must(t, expect.Locator(byTestID(page, "spec-reason")).Not().ToBeEmpty())
		visit("/builds", "builds")
		visit("/specs/"+long+"/compare?from=1&to=1", "compare")
		visit("/specs/packaged/compare?from=1&to=2", "compare-packages")
		visit("/specs/packaged/jobs", "packaged-jobs")
		visit("/specs/moving/jobs", "base-updated-jobs")
		must(t, expect.Locator(byTestID(page, "base-update")).ToBeVisible())
		visit(fmt.Sprintf("/jobs/%d", pjob.ID), "job-packages")
		visit("/specs/"+long+"/compare?from=1&to=99", "compare-bad-revision")
		visit("/specs/"+long+"/delete", "delete-page")
		visit("/images", "images")
		visit("/settings/secrets", "secrets")
		visit("/settings/registry", "registry")
		visit("/account", "account")
		must(t, byTestID(page, "create-token").Click())
		must(t, expect.Locator(byTestID(page, "token-name-errors")).ToBeVisible())
		shot.take(locale + "-token-errors")
		must(t, byTestID(page, "token-name").Fill("a-rather-long-token-name-for-the-ci-pipeline-of-team-x"))
		must(t, byTestID(page, "create-token").Click())
		must(t, expect.Locator(byTestID(page, "new-token")).ToBeVisible())
		shot.take(locale + "-token-created")
		visit("/settings/webhooks", "webhooks")
		must(t, expect.Locator(byTestID(page, "delivery-row")).Not().ToHaveCount(0))
		must(t, byTestID(page, "webhook-url").Fill("https://user:pw@chat.example.com/hooks"))
		must(t, byTestID(page, "add-webhook").Click())
		must(t, expect.Locator(byTestID(page, "webhook-url-errors")).ToBeVisible())
		shot.take(locale + "-webhook-errors")
		// Changed, the field's problem no longer stands under it.
		must(t, byTestID(page, "webhook-url").Fill("https://chat.example.com/hooks"))
		must(t, expect.Locator(byTestID(page, "webhook-url-errors")).ToBeEmpty())
		visit("/settings/audit", "audit")
		visit("/settings/storage", "storage")
		must(t, byTestID(page, "housekeeping-run").Click())
		must(t, expect.Locator(byTestID(page, "housekeeping-ran")).ToBeVisible())
		must(t, byTestID(page, "retention-log-days").Fill("forever and a very long while"))
		must(t, byTestID(page, "retention-save").Click())
		must(t, expect.Locator(byTestID(page, "retention-log-days-errors")).ToBeVisible())
		shot.take(locale + "-storage-housekeeping")
		must(t, byTestID(page, "schedule-housekeeping").Fill("every other Tuesday afternoon"))
		must(t, byTestID(page, "schedule-base-check").Fill("10s"))
		must(t, byTestID(page, "schedule-save").Click())
		must(t, expect.Locator(byTestID(page, "schedule-base-check-errors")).ToBeVisible())
		must(t, expect.Locator(byTestID(page, "schedule-housekeeping-errors")).ToBeVisible())
		shot.take(locale + "-storage-schedule-errors")
		visit("/settings/builds", "build-settings")
		must(t, byTestID(page, "sources-pip-index").Fill("ftp://a-rather-long-host-name.example.com/simple/with/a/long/path"))
		must(t, byTestID(page, "sources-conda-channels").Fill("conda-forge\n-c bad"))
		must(t, byTestID(page, "sources-apt-source").Fill("deb-src http://mirror/debian bookworm main"))
		must(t, byTestID(page, "sources-save").Click())
		must(t, expect.Locator(byTestID(page, "sources-apt-source-errors")).ToBeVisible())
		shot.take(locale + "-build-settings-errors")
		visit("/jobs/999999", "not-found")
	}
}

// packagedBusybox is the busybox rootfs plus a dpkg status file, a Python
// dist-info and a conda-meta entry with long names, versions and build
// strings: an image whose inventory fills every column of the table.
func packagedBusybox(t *testing.T) string {
	t.Helper()
	files := map[string]string{
		"./var/lib/dpkg/status": "Package: libreallylongpackagename-with-many-parts-dev\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:2.38.1-5+deb12u3~bpo11+1.really.long\n\n" +
			"Package: jq\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.6-2.1\n",
		"./usr/local/lib/python3.11/site-packages/a_python_distribution_with_a_long_name-2024.10.31.post1.dev7.dist-info/METADATA": "Name: a_python_distribution_with_a_long_name\nVersion: 2024.10.31.post1.dev7\n",
		"./opt/conda/conda-meta/numpy-1.26.4-py311h64a7726_0.json":                                                                 `{"name":"numpy","version":"1.26.4","build":"py311h64a7726_0_with_a_long_build_string","channel":"https://conda.anaconda.org/conda-forge/linux-64"}`,
	}
	return busyboxPlus(t, "packaged.tar", func(tw *tar.Writer) error {
		for name, body := range files {
			if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
				return err
			}
			if _, err := tw.Write([]byte(body)); err != nil {
				return err
			}
		}
		return nil
	})
}
