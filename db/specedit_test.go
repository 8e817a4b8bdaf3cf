package db

import (
	"context"
	"errors"
	"testing"
)

// One build per intent, no build for nothing, and no silent overwrite:
// SaveSpec in the store, where two requests meet.
func TestSaveSpecOncePerIntentNeverOverAnotherEdit(t *testing.T) {
	d := openTest(t)
	ctx := WithActor(context.Background(), "admin")
	v1 := ImageSpec{Name: "tools", BaseImage: "busybox", Pip: []string{"requests"}}
	res, err := d.SaveSpec(ctx, Edit{Spec: v1, Create: true, Intent: "form-a"}, "reg")
	if err != nil || !res.Changed || res.Job.Revision != 1 {
		t.Fatalf("create: %+v %v", res, err)
	}
	// A double-click on Create: the same intent, the same content.
	again, err := d.SaveSpec(ctx, Edit{Spec: v1, Create: true, Intent: "form-a"}, "reg")
	if err != nil || !again.Repeated || again.Job.ID != res.Job.ID {
		t.Fatalf("repeated create: %+v %v", again, err)
	}
	// Two tabs open version 1. Tab A adds a pull secret and saves.
	opened := v1.Version()
	withSecret := v1
	withSecret.PullSecret = "team"
	a, err := d.SaveSpec(ctx, Edit{Spec: withSecret, IfVersion: opened, Intent: "tab-a"}, "reg")
	if err != nil || a.Job.Revision != 2 {
		t.Fatalf("tab A: %+v %v", a, err)
	}
	// Tab B, opened before, adds a Pip line: refused, with what is there.
	withNumpy := v1
	withNumpy.Pip = []string{"requests", "numpy"}
	_, err = d.SaveSpec(ctx, Edit{Spec: withNumpy, IfVersion: opened, Intent: "tab-b"}, "reg")
	var stale *StaleError
	if !errors.As(err, &stale) || !errors.Is(err, ErrConflict) || stale.Current.PullSecret != "team" || stale.Revision != 2 || stale.By != "admin" {
		t.Fatalf("tab B: %v %+v", err, stale)
	}
	if s, _ := d.GetSpec(ctx, "tools"); s.PullSecret != "team" || len(s.Pip) != 1 {
		t.Fatalf("tab A's change was lost: %+v", s)
	}
	// Tab A, Back and Confirm again unchanged: the first save's job.
	back, err := d.SaveSpec(ctx, Edit{Spec: withSecret, IfVersion: opened, Intent: "tab-a"}, "reg")
	if err != nil || !back.Repeated || back.Job.Revision != 2 {
		t.Fatalf("back and confirm: %+v %v", back, err)
	}
	// Tab A, Back, changes more and confirms: it stands on what it saved.
	more := withSecret
	more.APT = []string{"jq"}
	next, err := d.SaveSpec(ctx, Edit{Spec: more, IfVersion: opened, Intent: "tab-a"}, "reg")
	if err != nil || !next.Changed || next.Job.Revision != 3 {
		t.Fatalf("back, change, confirm: %+v %v", next, err)
	}
	// Nothing changed: nothing built.
	same, err := d.SaveSpec(ctx, Edit{Spec: more, IfVersion: more.Version(), Intent: "form-c"}, "reg")
	if err != nil || same.Changed || same.Job.ID != 0 {
		t.Fatalf("unchanged: %+v %v", same, err)
	}
	if jobs, _ := d.ListJobs(ctx, "tools"); len(jobs) != 3 {
		t.Fatalf("%d jobs", len(jobs))
	}
}
