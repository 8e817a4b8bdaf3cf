package queue

import (
	"context"
	"testing"
	"time"

	"imagebuilder/builder/engine/enginetest"
	"imagebuilder/db"
)

func TestActiveRevisionRollbackAndAliasTag(t *testing.T) {
	r := enginetest.Get(t)
	q, store := newTestQueue(t, r, 5*time.Minute, func(c *Config) { c.Reuse = r.Images })
	ctx := context.Background()
	other := r.Derived(t, "FROM "+r.Busybox(t)+"\n"+`RUN ["/bin/sh","-c","echo two > /revision"]`+"\n", r.Target.Host+"/library/marker:1")
	resolve := func(tag string) string {
		t.Helper()
		dig, err := r.Images.ResolveBase(ctx, r.Target.Host+"/rollback:"+tag, nil)
		if err != nil {
			t.Fatalf("resolve rollback:%s: %v", tag, err)
		}
		return dig
	}
	build := func(base string) db.Job {
		t.Helper()
		var j db.Job
		var err error
		if _, err = store.GetSpec(ctx, "rollback"); err != nil {
			_, j, err = q.Create(ctx, db.ImageSpec{Name: "rollback", BaseImage: base})
		} else {
			_, j, err = q.Update(ctx, db.ImageSpec{Name: "rollback", BaseImage: base})
		}
		if err != nil {
			t.Fatal(err)
		}
		if j = waitJob(t, store, j.ID, db.StatusSucceeded, db.StatusFailed); j.Status != db.StatusSucceeded {
			t.Fatalf("revision %d: %+v", j.Revision, j)
		}
		return j
	}
	listed := func() db.SpecSummary {
		t.Helper()
		specs, err := store.ListSpecs(ctx)
		if err != nil || len(specs) != 1 {
			t.Fatalf("list: %v %v", specs, err)
		}
		return specs[0]
	}
	j1 := build(r.Busybox(t))
	if err := q.SetAlias(ctx, "rollback", true); err != nil {
		t.Fatal(err)
	}
	if got := resolve(db.AliasTag); got != j1.Digest {
		t.Fatalf("the alias points at %s, want revision 1's %s", got, j1.Digest)
	}
	// A new succeeded revision becomes active and takes the alias (moved
	// right after the job is recorded as succeeded).
	j2 := build(other)
	if j2.Digest == j1.Digest {
		t.Fatal("the two bases gave one image")
	}
	settled(t, q, j2.ID, func() bool { return true })
	if s := listed(); s.Image != j2.Image || s.Pinned || resolve(db.AliasTag) != j2.Digest {
		t.Fatalf("after revision 2: %+v, alias %s", s, resolve(db.AliasTag))
	}
	// Rollback: pinning revision 1 moves the list's image and the alias.
	if err := q.Activate(ctx, "rollback", j1.ID); err != nil {
		t.Fatal(err)
	}
	if s := listed(); s.Image != j1.Image || !s.Pinned || s.ActiveRevision != 1 || resolve(db.AliasTag) != j1.Digest {
		t.Fatalf("after the rollback: %+v, alias %s", s, resolve(db.AliasTag))
	}
	// A pinned spec keeps its revision while new ones succeed.
	j3 := build(r.Busybox(t) + "@" + j1.BaseDigest)
	if s := listed(); s.Image != j1.Image || resolve(db.AliasTag) != j1.Digest {
		t.Fatalf("revision 3 took over a pinned spec: %+v", s)
	}
	// Back to automatic: the latest succeeded revision.
	if err := q.Activate(ctx, "rollback", 0); err != nil {
		t.Fatal(err)
	}
	if s := listed(); s.Image != j3.Image || s.Pinned || resolve(db.AliasTag) != j3.Digest {
		t.Fatalf("back to automatic: %+v, alias %s", s, resolve(db.AliasTag))
	}
	// Revision tags never move.
	if resolve("1") != j1.Digest || resolve("2") != j2.Digest || resolve("3") != j3.Digest {
		t.Fatal("a revision tag moved")
	}
	// Only a succeeded revision of the spec can be active.
	if err := q.Activate(ctx, "rollback", 999999); err == nil {
		t.Fatal("a job of no spec became active")
	}
	if act, pinned, ok, err := store.ActiveJob(ctx, "rollback"); err != nil || !ok || pinned || act.ID != j3.ID {
		t.Fatalf("active %+v pinned=%v ok=%v err=%v", act, pinned, ok, err)
	}
}
