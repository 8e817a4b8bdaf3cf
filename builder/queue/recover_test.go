package queue

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"imagebuilder/builder/engine/enginetest"
	"imagebuilder/builder/executor"
	"imagebuilder/builder/registry"
	"imagebuilder/builder/spec"
	"imagebuilder/builder/spec/spectest"
	"imagebuilder/db"
	"imagebuilder/db/dbtest"
	"imagebuilder/db/failure"
)

// stubExecutor stands in for an executor whose builds outlive the portal
// (a cluster's): the in-process engine never reports a running build, so
// the queue's re-attach path needs one. It says the first job still runs
// and the second is gone.
type stubExecutor struct {
	attached chan int64
	deadline time.Time // of Attach's context
}

func (s *stubExecutor) Run(context.Context, executor.Request, io.Writer) (executor.Outcome, error) {
	return executor.Outcome{}, fmt.Errorf("not used")
}

func (s *stubExecutor) Capabilities() executor.Capabilities { return executor.Capabilities{} }

func (s *stubExecutor) Recover(_ context.Context, building []executor.Job) ([]executor.Recovery, error) {
	if len(building) == 0 {
		return nil, nil
	}
	out := []executor.Recovery{{JobID: building[0].ID, Running: true}}
	for _, j := range building[1:] {
		out = append(out, executor.Recovery{JobID: j.ID, Failure: failure.New(failure.PodGone, "the build pod is gone", "gone")})
	}
	return out, nil
}

func (s *stubExecutor) Attach(ctx context.Context, job executor.Job, log io.Writer) (executor.Outcome, error) {
	fmt.Fprintln(log, "still building after the restart")
	s.deadline, _ = ctx.Deadline()
	s.attached <- job.ID
	return executor.Outcome{Image: "reg/" + job.SpecName + ":1", Digest: "sha256:aa", Size: 1}, nil
}

// At start-up the queue asks the executor about the jobs left Building: a
// build that still runs is followed to its end and recorded; a gone one
// fails with the executor's reason, written at the end of its log.
func TestStartReattachesRunningBuildsAndFailsGoneOnes(t *testing.T) {
	ctx := context.Background()
	store, logStore := openStores(t)
	for _, name := range []string{"alive", "gone"} {
		if _, _, err := store.CreateSpec(ctx, db.ImageSpec{Name: name, BaseImage: "reg/base:1"}, "reg"); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := store.ClaimNextJob(ctx); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	stub := &stubExecutor{attached: make(chan int64, 1)}
	q := New(store, stub, logStore, Config{Registry: func(context.Context) (registry.Target, error) { return registry.Target{Host: "reg"}, nil }})
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer q.Stop(ctx)
	alive, _ := store.ListJobs(ctx, "alive")
	gone, _ := store.ListJobs(ctx, "gone")
	select {
	case id := <-stub.attached:
		if id != alive[0].ID {
			t.Fatalf("attached to job %d", id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the running build was not followed again")
	}
	if j := dbtest.WaitJob(t, store, alive[0].ID, 10*time.Second, nil, db.StatusSucceeded); j.Image != "reg/alive:1" {
		t.Fatalf("re-attached job: %+v", j)
	}
	g, _ := store.GetJob(ctx, gone[0].ID)
	if g.Status != db.StatusFailed || g.Failure.Text() != "the build pod is gone" {
		t.Fatalf("gone job: %+v", g)
	}
	lines, _, _, _ := logStore.Tail(gone[0].ID, 1)
	if len(lines) != 1 || !strings.HasSuffix(lines[0], "revision 1 failed: the build pod is gone") {
		t.Fatalf("gone job's last log line: %q", lines)
	}
	lines, _, _, _ = logStore.Tail(alive[0].ID, 3)
	if !strings.Contains(strings.Join(lines, "\n"), "still building after the restart") {
		t.Fatalf("re-attached log: %q", lines)
	}
}

// A job cancelled while its worker is still looking up what the build
// needs (registry, pull secret) is recorded as cancelled, with who did it,
// not as failed with "context canceled".
func TestCancelDuringTheLookupsBeforeTheBuildIsACancel(t *testing.T) {
	ctx := context.Background()
	store, logStore := openStores(t)
	looking := make(chan struct{}, 1)
	var calls atomic.Int32
	q := New(store, &stubExecutor{attached: make(chan int64, 1)}, logStore, Config{Registry: func(ctx context.Context) (registry.Target, error) {
		if calls.Add(1) == 1 {
			return registry.Target{Host: "reg"}, nil // the save's own lookup
		}
		looking <- struct{}{}
		<-ctx.Done() // the worker's lookup: slow, interrupted by the cancel
		return registry.Target{}, ctx.Err()
	}})
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer q.Stop(ctx)
	_, job, err := q.Create(ctx, db.ImageSpec{Name: "early", BaseImage: "reg/base:1"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-looking:
	case <-time.After(10 * time.Second):
		t.Fatal("the worker never looked up the registry")
	}
	got, err := q.Cancel(db.WithActor(ctx, "alice"), job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != db.StatusCancelled || got.Failure.Text() != "cancelled by an administrator" || got.Failure.Code() != failure.Cancelled || got.CancelledBy != "alice" {
		t.Fatalf("cancelled during the lookups: %s %q by %q", got.Status, got.Failure.Text(), got.CancelledBy)
	}
}

// Real failing builds say which package failed and how: an APT package
// that does not exist, a version that does not exist, a base without
// apt-get. The reason's last argument is the tool's line.
func TestFailedAPTBuildsNameThePackage(t *testing.T) {
	r := enginetest.Get(t)
	q, store := newTestQueue(t, r, 5*time.Minute)
	ctx := context.Background()
	for _, tc := range []struct {
		name, base, line string
		code             failure.Reason
		args             []string
	}{
		{"apt-missing-pkg", r.Debian(t), "no-such-package-xyz", failure.APTNotFound, []string{"no-such-package-xyz"}},
		{"apt-bad-version", r.Debian(t), "jq=0.0.0-nope", failure.APTVersion, []string{"jq", "0.0.0-nope"}},
		{"apt-no-apt", r.Busybox(t), "jq", failure.APTMissing, nil},
	} {
		_, job, err := q.Create(ctx, db.ImageSpec{Name: tc.name, BaseImage: tc.base, APT: []string{tc.line}})
		if err != nil {
			t.Fatal(err)
		}
		j := waitJob(t, store, job.ID, db.StatusFailed, db.StatusSucceeded)
		if f := j.Failure; f.Code() != tc.code || fmt.Sprint(f.Args) != fmt.Sprint(tc.args) || len(f.Lines) != 1 {
			t.Errorf("%s: %s %+v\n%s", tc.name, j.Status, f, logTextOrEmpty(q, j.ID))
		}
	}
}

// Real failing Pip builds against a private index name the requirement:
// a version that does not exist, and two packages whose dependencies
// conflict. The job records the sources it used, without the password.
func TestFailedPipBuildsNameTheRequirement(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads Debian packages")
	}
	const password = "queue-MARKER-pw"
	ix := spectest.ServePyIndex(t, "ci", password,
		spectest.Wheel{Name: "alpha", Version: "1.0"}, spectest.Wheel{Name: "gamma", Version: "0.9"}, spectest.Wheel{Name: "gamma", Version: "1.0"},
		spectest.Wheel{Name: "clash-a", Version: "1.0", Requires: []string{"gamma<1.0"}},
		spectest.Wheel{Name: "clash-b", Version: "1.0", Requires: []string{"gamma>=1.0"}})
	r := enginetest.Get(t)
	sources := spec.Sources{PipIndexURL: ix.AuthURL()}
	q, store := newTestQueue(t, r, 5*time.Minute, func(c *Config) {
		c.Sources = func(context.Context) (spec.Sources, error) { return sources, nil }
	})
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		pip  []string
		code failure.Reason
		args []string
	}{
		{"pip-no-match", []string{"alpha>=3"}, failure.PipNoMatch, []string{"alpha>=3"}},
		{"pip-conflict", []string{"clash-a", "clash-b"}, failure.PipConflict, []string{"clash-a==1.0 and clash-b==1.0 (clash-a 1.0 depends on gamma<1.0; clash-b 1.0 depends on gamma>=1.0)"}},
	} {
		_, job, err := q.Create(ctx, db.ImageSpec{Name: tc.name, BaseImage: r.Debian(t), APT: []string{"python3-pip"}, Pip: tc.pip})
		if err != nil {
			t.Fatal(err)
		}
		j := waitJob(t, store, job.ID, db.StatusFailed, db.StatusSucceeded)
		log := logTextOrEmpty(q, j.ID)
		if f := j.Failure; f.Code() != tc.code || fmt.Sprint(f.Args) != fmt.Sprint(tc.args) || f.Quoted() == "" ||
			!strings.Contains(log, f.Quoted()) {
			t.Errorf("%s: %s %+v\n%s", tc.name, j.Status, f, log)
		}
		if strings.Contains(log, password) || strings.Contains(j.Sources, password) || !strings.Contains(j.Sources, "ci:****@") {
			t.Errorf("%s: the password leaked, or the job does not record the masked sources: %q", tc.name, j.Sources)
		}
	}
}

// A build followed again after a restart keeps the deadline it had: the
// build timeout counts from its start, not from the restart.
func TestReattachedBuildKeepsItsDeadline(t *testing.T) {
	ctx := context.Background()
	store, logStore := openStores(t)
	if _, _, err := store.CreateSpec(ctx, db.ImageSpec{Name: "alive", BaseImage: "reg/base:1"}, "reg"); err != nil {
		t.Fatal(err)
	}
	job, ok, err := store.ClaimNextJob(ctx)
	if !ok || err != nil {
		t.Fatal(ok, err)
	}
	time.Sleep(1500 * time.Millisecond) // the server is down for a while
	stub := &stubExecutor{attached: make(chan int64, 1)}
	q := New(store, stub, logStore, Config{Timeout: 10 * time.Second,
		Registry: func(context.Context) (registry.Target, error) { return registry.Target{Host: "reg"}, nil }})
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer q.Stop(ctx)
	select {
	case <-stub.attached:
	case <-time.After(10 * time.Second):
		t.Fatal("not re-attached")
	}
	want := job.StartedAt.Add(10 * time.Second)
	if d := stub.deadline.Sub(want); d < -time.Second || d > time.Second {
		t.Fatalf("re-attached with deadline %s; the build started %s, so it ends at %s", stub.deadline, job.StartedAt, want)
	}
}

// An edit that only adds APT packages keeps the last good build's APT
// step (from the layer cache) and installs just the new package in a
// step of its own; removing a package starts again from one step.
func TestAddedAPTPackageKeepsThePreviousStep(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads Debian packages")
	}
	r := enginetest.Get(t)
	q, store := newTestQueue(t, r, 5*time.Minute)
	ctx := context.Background()
	base := r.Debian(t)
	build := func(apt ...string) db.Job {
		t.Helper()
		var job db.Job
		var err error
		if _, err = store.GetSpec(ctx, "apt-steps"); err != nil {
			_, job, err = q.Create(ctx, db.ImageSpec{Name: "apt-steps", BaseImage: base, APT: apt})
		} else {
			_, job, err = q.Update(ctx, db.ImageSpec{Name: "apt-steps", BaseImage: base, APT: apt})
		}
		if err != nil {
			t.Fatal(err)
		}
		j := waitJob(t, store, job.ID, db.StatusFailed, db.StatusSucceeded)
		if j.Status != db.StatusSucceeded {
			t.Fatalf("%v: %s %s\n%s", apt, j.Status, j.Failure.Text(), logTextOrEmpty(q, j.ID))
		}
		return j
	}
	build("jq")
	j2 := build("jq", "tree")
	log := logTextOrEmpty(q, j2.ID)
	if fmt.Sprint(j2.APTSteps) != "[[jq] [tree]]" || !strings.Contains(log, "only added since revision 1") ||
		!strings.Contains(log, "Using cache") || !strings.Contains(log, "Setting up tree") || strings.Contains(log, "Setting up jq") {
		t.Errorf("revision 2 steps %v:\n%s", j2.APTSteps, log)
	}
	if j3 := build("tree"); fmt.Sprint(j3.APTSteps) != "[[tree]]" {
		t.Errorf("revision 3 (jq removed) steps %v", j3.APTSteps)
	}
}

// Real failing builds whose reason is not a package tool's error line: a
// base image its registry does not have, a registry nobody listens on, a
// build over its memory limit, Conda or Pip lines on a base without conda
// or pip. Each names what failed.
func TestFailedBuildsNameBaseRegistryMemoryAndMissingTools(t *testing.T) {
	r := enginetest.Get(t)
	if !r.Engine.Capabilities().StepLimits {
		t.Skip("this machine gives no control groups to the tests")
	}
	q, store := newTestQueue(t, r, 5*time.Minute, func(c *Config) {
		c.Limits = func(context.Context) (executor.Limits, error) { return executor.Limits{Memory: 64 << 20}, nil }
	})
	ctx := context.Background()
	r.Busybox(t)
	missing := r.Target.Host + "/library/busybox:no-such-tag"
	nobody := freeAddr(t)
	busybox := r.Busybox(t)
	for _, tc := range []struct {
		name, base      string
		apt, conda, pip []string
		code            failure.Reason
		args            []string
	}{
		{"no-such-base", missing, nil, nil, nil, failure.BaseNotFound, []string{missing}},
		{"no-registry-there", nobody + "/library/busybox:1", nil, nil, nil, failure.Unreachable, []string{nobody, "connect: connection refused"}},
		{"over-memory", r.Hungry(t), []string{"anything"}, nil, nil, failure.OutOfMemory, []string{"64.0 MiB"}},
		{"no-conda", busybox, nil, []string{"numpy"}, nil, failure.CondaMissing, nil},
		{"no-pip", busybox, nil, nil, []string{"requests"}, failure.PipMissing, nil},
	} {
		s := db.ImageSpec{Name: tc.name, BaseImage: tc.base, APT: tc.apt, Conda: tc.conda, Pip: tc.pip}
		_, job, err := q.Create(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		j := waitJob(t, store, job.ID, db.StatusFailed, db.StatusSucceeded)
		if f := j.Failure; f.Code() != tc.code || fmt.Sprint(f.Args) != fmt.Sprint(tc.args) {
			t.Errorf("%s: %s %+v\n%s", tc.name, j.Status, f, logTextOrEmpty(q, j.ID))
		}
	}
}

// freeAddr is a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Saving a spec unchanged reuses the image of the revision that built
// it: no build, a new tag on the same digest, a log that says so. A new
// base image digest builds again, and Rebuild always builds.
func TestIdenticalSpecReusesTheImage(t *testing.T) {
	r := enginetest.Get(t)
	q, store := newTestQueue(t, r, 5*time.Minute, func(c *Config) { c.Reuse = r.Images })
	ctx := context.Background()
	s := db.ImageSpec{Name: "same-again", BaseImage: r.Busybox(t)}
	_, j1, err := q.Create(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	j1 = waitJob(t, store, j1.ID, db.StatusSucceeded, db.StatusFailed)
	if j1.Status != db.StatusSucceeded || j1.ContentKey == "" || j1.ReusedFrom != 0 {
		t.Fatalf("revision 1: %+v\n%s", j1, logTextOrEmpty(q, j1.ID))
	}
	start := time.Now()
	_, j2, err := q.Update(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	j2 = waitJob(t, store, j2.ID, db.StatusSucceeded, db.StatusFailed)
	took := time.Since(start)
	log := logTextOrEmpty(q, j2.ID)
	if j2.Status != db.StatusSucceeded || j2.Digest != j1.Digest || j2.ReusedFrom != j1.ID || j2.Image != r.Target.Host+"/same-again:2" ||
		!strings.Contains(log, "reused revision 1's image") || strings.Contains(log, "STEP 1") {
		t.Fatalf("revision 2 (unchanged): %+v\n%s", j2, log)
	}
	if took > 5*time.Second {
		t.Errorf("reusing took %s", took)
	}
	// The new tag is in the registry, on the same digest.
	if got, err := r.Images.ResolveBase(ctx, j2.Image, nil); err != nil || got != j1.Digest {
		t.Errorf("tag 2 resolves to %q (%v), want %s", got, err, j1.Digest)
	}
	j3, err := q.Rebuild(ctx, j2.ID)
	if err != nil {
		t.Fatal(err)
	}
	j3 = waitJob(t, store, j3.ID, db.StatusSucceeded, db.StatusFailed)
	if j3.Status != db.StatusSucceeded || j3.ReusedFrom != 0 || !strings.Contains(logTextOrEmpty(q, j3.ID), "STEP 1") {
		t.Fatalf("rebuild: %+v\n%s", j3, logTextOrEmpty(q, j3.ID))
	}
	// A changed spec builds.
	s.APT = []string{"jq"}
	_, j4, err := q.Update(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	j4 = waitJob(t, store, j4.ID, db.StatusSucceeded, db.StatusFailed)
	if j4.ReusedFrom != 0 || j4.ContentKey == j1.ContentKey {
		t.Fatalf("changed spec: %+v", j4)
	}
}
