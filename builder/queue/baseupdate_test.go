package queue

import (
	"context"
	"testing"
	"time"

	"imagebuilder/builder/engine"
	"imagebuilder/builder/engine/enginetest"
	"imagebuilder/db"
)

// pushBase builds containerfile and pushes it as target, replacing
// whatever the tag named.
func pushBase(t *testing.T, r *enginetest.Rig, containerfile, target string) string {
	t.Helper()
	if _, err := r.Engine.BuildContainerfile(context.Background(), engine.ContainerfileBuild{Containerfile: containerfile, Target: target, NoCache: true}); err != nil {
		t.Fatal(err)
	}
	res, err := r.Engine.Push(context.Background(), target, target, r.Target, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res.Digest
}

// settled reports cond once job id's end is fully handled: what follows a
// job's recorded success (its alias, its activation, the base flag) is
// done before its log closes (see finish), so the close is waited for.
func settled(t *testing.T, q *Queue, id int64, cond func() bool) bool {
	t.Helper()
	logText(t, q, id)
	return cond()
}

func TestBaseImageUpdatesFollowEachPolicy(t *testing.T) {
	r := enginetest.Get(t)
	q, store := newTestQueue(t, r, 5*time.Minute, func(c *Config) { c.Reuse = r.Images })
	ctx := context.Background()
	base := r.Target.Host + "/library/moving:1"
	first := pushBase(t, r, "FROM "+r.Busybox(t)+"\n"+`RUN ["/bin/sh","-c","echo one > /version"]`+"\n", base)
	latest := func(name string) db.Job {
		t.Helper()
		jobs, err := store.ListJobs(ctx, name)
		if err != nil || len(jobs) == 0 {
			t.Fatalf("%s: %v %v", name, jobs, err)
		}
		return waitJob(t, store, jobs[0].ID, db.StatusSucceeded, db.StatusFailed)
	}
	for _, p := range db.BasePolicies {
		if _, _, err := q.Create(ctx, db.ImageSpec{Name: "on-moving-" + p, BaseImage: base}); err != nil {
			t.Fatal(err)
		}
		if j := latest("on-moving-" + p); j.Status != db.StatusSucceeded || j.BaseDigest != first {
			t.Fatalf("%s revision 1: %+v", p, j)
		}
		if err := store.SetBasePolicy(ctx, "on-moving-"+p, p); err != nil {
			t.Fatal(err)
		}
	}
	// The "activate" spec is pinned to revision 1: its rebuild must move it.
	pinned := latest("on-moving-activate")
	if err := q.Activate(ctx, "on-moving-activate", pinned.ID); err != nil {
		t.Fatal(err)
	}
	// Nothing changed: nothing happens.
	if res, err := q.CheckBases(ctx); err != nil || res.Checked != 3 || res.Updated != 0 {
		t.Fatalf("unchanged bases: %+v %v", res, err)
	}
	// A new version of the base under the same tag.
	second := pushBase(t, r, "FROM "+r.Busybox(t)+"\n"+`RUN ["/bin/sh","-c","echo two > /version"]`+"\n", base)
	if second == first {
		t.Fatal("the new base has the old digest")
	}
	res, err := q.CheckBases(ctx)
	if err != nil || res.Checked != 3 || res.Updated != 3 || res.Rebuilt != 2 || len(res.Failed) != 0 {
		t.Fatalf("updated bases: %+v %v", res, err)
	}
	// wait: flagged, no build.
	if st, _ := store.GetBaseState(ctx, "on-moving-wait"); st.Update != second {
		t.Fatalf("wait: %+v", st)
	}
	if j := latest("on-moving-wait"); j.Revision != 1 {
		t.Fatalf("wait built revision %d", j.Revision)
	}
	// rebuild: revision 2 on the new base, and the flag is cleared.
	if j := latest("on-moving-rebuild"); j.Revision != 2 || j.Status != db.StatusSucceeded || j.BaseDigest != second {
		t.Fatalf("rebuild: %+v", j)
	}
	if !settled(t, q, latest("on-moving-rebuild").ID, func() bool { st, _ := store.GetBaseState(ctx, "on-moving-rebuild"); return st.Update == "" }) {
		t.Fatal("rebuild left the flag")
	}
	// activate: revision 2 on the new base became the active one.
	j := latest("on-moving-activate")
	if j.Revision != 2 || j.BaseDigest != second {
		t.Fatalf("activate: %+v", j)
	}
	if !settled(t, q, j.ID, func() bool { act, _, _, _ := store.ActiveJob(ctx, "on-moving-activate"); return act.ID == j.ID }) {
		t.Fatal("activate: the rebuild did not become active")
	}
	// The administrator's Rebuild of the waiting spec clears its flag.
	rb, err := q.Rebuild(ctx, latest("on-moving-wait").ID)
	if err != nil {
		t.Fatal(err)
	}
	if j := waitJob(t, store, rb.ID, db.StatusSucceeded, db.StatusFailed); j.BaseDigest != second {
		t.Fatalf("wait's rebuild: %+v", j)
	}
	if !settled(t, q, rb.ID, func() bool { st, _ := store.GetBaseState(ctx, "on-moving-wait"); return st.Update == "" }) {
		t.Fatal("the flag outlived the rebuild")
	}
}
