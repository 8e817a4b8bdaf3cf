package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"imagebuilder/db"
)

// formValues reads the spec form of a page as the browser would send it.
func formValues(doc *goquery.Document) url.Values {
	v := url.Values{}
	form := doc.Find(`[data-testid="spec-form"]`)
	form.Find("input[name]").Each(func(_ int, s *goquery.Selection) {
		name, _ := s.Attr("name")
		val, _ := s.Attr("value")
		if typ, _ := s.Attr("type"); typ == "checkbox" {
			if _, on := s.Attr("checked"); !on {
				return
			}
		}
		v.Set(name, val)
	})
	form.Find("textarea[name]").Each(func(_ int, s *goquery.Selection) {
		name, _ := s.Attr("name")
		v.Set(name, s.Text())
	})
	form.Find("select[name]").Each(func(_ int, s *goquery.Selection) {
		name, _ := s.Attr("name")
		if sel := s.Find("option[selected]"); sel.Length() > 0 {
			val, _ := sel.Attr("value")
			v.Set(name, val)
		}
	})
	return v
}

// Two tabs edit one spec: the later save is refused with both versions
// side by side, nothing the first saved is lost, "Apply mine on top" fills
// the form with both changes, and that confirms. A second Confirm of the
// same form makes no second revision; an unchanged Confirm builds nothing
// and says so.
func TestEditConflictsAndOneBuildPerForm(t *testing.T) {
	app, store := testApp(t)
	cl := signedIn(t, app)
	ctx := context.Background()
	if err := store.SavePullSecret(ctx, "team", []byte("sealed")); err != nil {
		t.Fatal(err)
	}
	if resp, _ := cl.post("/specs", url.Values{"name": {"shared"}, "baseImage": {"busybox"}, "pip": {"requests"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	_, tabA := cl.get("/specs/shared")
	_, tabB := cl.get("/specs/shared")
	a, b := formValues(tabA), formValues(tabB)
	if a.Get("version") == "" || a.Get("intent") == "" || a.Get("intent") == b.Get("intent") {
		t.Fatalf("the form carries no version or one-time key: %v", a)
	}
	// Tab A turns on the pull secret.
	a.Set("usePullSecret", "on")
	a.Set("pullSecret", "team")
	if resp, _ := cl.post("/specs/shared", a); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("tab A: %d", resp.StatusCode)
	}
	// A double-click: the same form again.
	resp, _ := cl.post("/specs/shared", a)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("tab A again: %d", resp.StatusCode)
	}
	_, jobsTab := cl.get("/specs/shared/jobs")
	if got := jobsTab.Find(`[data-testid="flash"]`).Text(); !strings.Contains(got, "confirmed already (revision 2)") {
		t.Fatalf("the second Confirm says %q", got)
	}
	if n := jobsTab.Find(`[data-testid="job-row"]`).Length(); n != 2 {
		t.Fatalf("%d revisions after a double Confirm", n)
	}
	// Tab B, opened before, adds a Pip line.
	b.Set("pip", "requests\nnumpy")
	resp, doc := cl.post("/specs/shared", b)
	if resp.StatusCode != http.StatusConflict || doc.Find(`[data-testid="conflict"]`).Length() != 1 {
		t.Fatalf("tab B: %d", resp.StatusCode)
	}
	rows := map[string][2]string{}
	doc.Find(`[data-testid="conflict-row"]`).Each(func(_ int, s *goquery.Selection) {
		f, _ := s.Attr("data-field")
		rows[f] = [2]string{s.Find(`[data-testid="conflict-theirs"]`).Text(), s.Find(`[data-testid="conflict-yours"]`).Text()}
	})
	if rows["form.pullsecret.choose"][0] != "team" || !strings.Contains(rows["form.pip"][1], "numpy") {
		t.Fatalf("the conflict shows %v", rows)
	}
	if got := doc.Find(`[data-testid="pip"]`).Text(); got != "requests\nnumpy" {
		t.Fatalf("tab B's text was not kept: %q", got)
	}
	if s, _ := store.GetSpec(ctx, "shared"); s.PullSecret != "team" || len(s.Pip) != 1 {
		t.Fatalf("after the refusal: %+v", s.ImageSpec)
	}
	// Apply mine on top: both changes, to confirm.
	merge := formValues(doc)
	merge.Set("resolve", "merge")
	resp, doc = cl.post("/specs/shared", merge)
	merged := formValues(doc)
	if resp.StatusCode != http.StatusOK || merged.Get("pullSecret") != "team" || merged.Get("usePullSecret") != "on" || merged.Get("pip") != "requests\nnumpy" {
		t.Fatalf("merged: %d %v", resp.StatusCode, merged)
	}
	if resp, _ := cl.post("/specs/shared", merged); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("confirm the merge: %d", resp.StatusCode)
	}
	s, _ := store.GetSpec(ctx, "shared")
	if s.PullSecret != "team" || strings.Join(s.Pip, ",") != "requests,numpy" {
		t.Fatalf("after the merge: %+v", s.ImageSpec)
	}
	// Nothing changed: nothing built, and the page says so.
	_, fresh := cl.get("/specs/shared")
	if resp, _ := cl.post("/specs/shared", formValues(fresh)); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("unchanged: %d", resp.StatusCode)
	}
	_, jobsTab = cl.get("/specs/shared/jobs")
	if got := jobsTab.Find(`[data-testid="flash"]`).Text(); !strings.Contains(got, "Nothing changed") {
		t.Fatalf("an unchanged Confirm says %q", got)
	}
	if jobs, _ := store.ListJobs(ctx, "shared"); len(jobs) != 3 || jobs[0].Status != db.StatusPending {
		t.Fatalf("%d jobs", len(jobs))
	}
}
