package db

import (
	"context"
	"testing"
)

func TestActivatingIsAudited(t *testing.T) {
	d := openTest(t)
	ctx := WithActor(context.Background(), "alice")
	_, j, err := d.CreateSpec(ctx, ImageSpec{Name: "act", BaseImage: "busybox"}, "r")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetActiveJob(ctx, "act", j.ID); err == nil {
		t.Fatal("a pending revision became active")
	}
	if _, _, err := d.ClaimNextJob(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := d.FinishJob(ctx, j.ID, JobOutcome{Status: StatusSucceeded, Image: "r/act:1", Digest: "sha256:1"}); err != nil {
		t.Fatal(err)
	}
	if err := d.SetActiveJob(ctx, "act", j.ID); err != nil {
		t.Fatal(err)
	}
	if err := d.SetActiveJob(ctx, "act", 0); err != nil {
		t.Fatal(err)
	}
	events, err := d.ListAudit(ctx, "act", 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range events {
		if e.Action == ActionActivate && e.Actor == "alice" && e.Spec == "act" {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d activations audited: %+v", n, events)
	}
}
