package queue

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"imagebuilder/builder/engine/enginetest"
	"imagebuilder/builder/logs"
	"imagebuilder/builder/logs/logstest"
	"imagebuilder/builder/registry"
	"imagebuilder/db"
	"imagebuilder/db/dbtest"
	"imagebuilder/db/failure"
)

// slowAptBase is a busybox image whose apt-get sleeps for a minute: a build
// with any APT line stays in its APT step until cancelled.
func slowAptBase(t *testing.T, r *enginetest.Rig) string {
	t.Helper()
	cf := "FROM " + r.Busybox(t) + "\n" +
		`RUN ["/bin/sh","-c","mkdir -p /usr/bin && printf '#!/bin/sh\\necho apt-get is slow today\\nsleep 60\\n' > /usr/bin/apt-get && chmod +x /usr/bin/apt-get"]` + "\n"
	return r.Derived(t, cf, r.Target.Host+"/library/slow-apt:1")
}

// openStores opens a database and a log store in a temporary directory,
// closed when the test ends.
func openStores(t testing.TB) (*db.DB, *logs.Store) {
	t.Helper()
	dir := t.TempDir()
	store, err := db.Open(filepath.Join(dir, "imagebuilder.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	logStore, err := logs.NewStore(filepath.Join(dir, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	return store, logStore
}

func newTestQueue(t *testing.T, r *enginetest.Rig, timeout time.Duration, options ...func(*Config)) (*Queue, *db.DB) {
	t.Helper()
	store, logStore := openStores(t)
	cfg := Config{
		Workers:  1,
		Timeout:  timeout,
		Registry: func(context.Context) (registry.Target, error) { return r.Target, nil },
	}
	for _, o := range options {
		o(&cfg)
	}
	q := New(store, r.Engine, logStore, cfg)
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		q.Stop(ctx)
		store.Close()
	})
	return q, store
}

// waitJob waits until the job reaches one of the statuses.
func waitJob(t testing.TB, store *db.DB, id int64, want ...db.Status) db.Job {
	t.Helper()
	return dbtest.WaitJob(t, store, id, 2*time.Minute, stacks, want...)
}

// stacks is every goroutine's stack, for a test that waited in vain.
func stacks() string {
	buf := make([]byte, 1<<22)
	return string(buf[:runtime.Stack(buf, true)])
}

// logText is an ended job's whole log. Its last line is written after the
// job's status (see finish): the log is followed to its close.
func logText(t *testing.T, q *Queue, id int64) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var b strings.Builder
	if err := q.logs.Follow(ctx, id, 0, nil, func(line []byte, _ int64) error {
		b.Write(line)
		b.WriteByte('\n')
		return nil
	}); err != nil {
		t.Fatalf("the log of job %d: %v", id, err)
	}
	return b.String()
}

func TestQueueCreateEditSucceedAndFailWithReason(t *testing.T) {
	r := enginetest.Get(t)
	q, store := newTestQueue(t, r, time.Hour)
	ctx := context.Background()
	base := r.Busybox(t)

	if _, _, err := q.Create(ctx, db.ImageSpec{Name: "Bad Name", BaseImage: base}); err == nil {
		t.Fatal("an invalid spec was stored")
	}
	_, j1, err := q.Create(ctx, db.ImageSpec{Name: "q-demo", BaseImage: base})
	if err != nil {
		t.Fatal(err)
	}
	j1 = waitJob(t, store, j1.ID, db.StatusSucceeded, db.StatusFailed)
	if j1.Status != db.StatusSucceeded || j1.Revision != 1 || !strings.HasPrefix(j1.Digest, "sha256:") ||
		j1.Image != r.Target.Host+"/q-demo:1" || j1.StartedAt.IsZero() || j1.FinishedAt.IsZero() {
		t.Fatalf("revision 1: %+v\n%s", j1, logText(t, q, j1.ID))
	}
	if l := logText(t, q, j1.ID); !strings.Contains(l, "Image Builder: revision 1 succeeded: "+j1.Image+"@"+j1.Digest) {
		t.Errorf("log lacks the result:\n%s", l)
	}

	// An edit with a package the base cannot install fails with a reason.
	_, j2, err := q.Update(ctx, db.ImageSpec{Name: "q-demo", BaseImage: base, APT: []string{"jq"}})
	if err != nil {
		t.Fatal(err)
	}
	j2 = waitJob(t, store, j2.ID, db.StatusSucceeded, db.StatusFailed)
	if j2.Status != db.StatusFailed || j2.Revision != 2 || j2.Failure.Text() != "the APT step failed (exit status 1): the base image has no apt-get, so APT packages cannot be installed; choose a Debian or Ubuntu based image or remove the APT packages." {
		t.Fatalf("revision 2: %+v", j2)
	}
	if l := logText(t, q, j2.ID); !strings.Contains(l, "the base image has no apt-get") || !strings.Contains(l, "revision 2 failed") {
		t.Errorf("log lacks the reason:\n%s", l)
	}
	list, _ := store.ListSpecs(ctx)
	if list[0].Status != db.StatusFailed || list[0].Image != j1.Image {
		t.Errorf("list row %+v", list[0])
	}

	// Retry builds the same snapshot as a new revision.
	j3, err := q.Retry(ctx, j2.ID)
	if err != nil {
		t.Fatal(err)
	}
	j3 = waitJob(t, store, j3.ID, db.StatusSucceeded, db.StatusFailed)
	if j3.Revision != 3 || j3.RetryOf != j2.ID || j3.Snapshot.APT[0] != "jq" || j3.Status != db.StatusFailed {
		t.Fatalf("retry: %+v", j3)
	}
}

func TestQueueCancelSupersedeAndTimeout(t *testing.T) {
	r := enginetest.Get(t)
	slow := slowAptBase(t, r)
	q, store := newTestQueue(t, r, time.Hour)
	ctx := context.Background()

	_, running, err := q.Create(ctx, db.ImageSpec{Name: "slow", BaseImage: slow, APT: []string{"jq"}})
	if err != nil {
		t.Fatal(err)
	}
	waitJob(t, store, running.ID, db.StatusBuilding)
	// Two edits while revision 1 builds: 2 is superseded by 3, 1 keeps going.
	_, j2, _ := q.Update(ctx, db.ImageSpec{Name: "slow", BaseImage: slow, APT: []string{"curl"}})
	_, j3, _ := q.Update(ctx, db.ImageSpec{Name: "slow", BaseImage: slow, APT: []string{"wget"}})
	if got, _ := store.GetJob(ctx, j2.ID); got.Status != db.StatusCancelled || got.Failure.Text() != "superseded by revision 3" {
		t.Fatalf("revision 2: %s %q", got.Status, got.Failure.Text())
	}
	if got, _ := store.GetJob(ctx, running.ID); got.Status != db.StatusBuilding {
		t.Fatalf("revision 1 was stopped: %s", got.Status)
	}
	// Wait until apt-get runs, then cancel the running build.
	logstest.WaitLine(t, q.logs, running.ID, "apt-get is slow today", time.Minute, jobEnded(store, running.ID))
	start := time.Now()
	got, err := q.Cancel(ctx, running.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != db.StatusCancelled || got.Failure.Text() != "cancelled by an administrator" || got.Failure.Code() != failure.Cancelled {
		t.Fatalf("cancelled job %+v", got)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("cancel took %s", d)
	}
	if l := logTextOrEmpty(q, running.ID); !strings.Contains(l, "revision 1 cancelled: cancelled by an administrator") {
		t.Errorf("log lacks the cancellation:\n%s", l)
	}
	// Revision 3 runs next; cancel it while pending or building.
	waitJob(t, store, j3.ID, db.StatusBuilding)
	if got, _ := q.Cancel(ctx, j3.ID); got.Status != db.StatusCancelled {
		t.Fatalf("revision 3: %s %q\n%s", got.Status, got.Failure.Text(), logTextOrEmpty(q, j3.ID))
	}
	ctrs, _ := r.Engine.Store().Containers()
	for _, c := range ctrs {
		for _, n := range c.Names {
			if strings.Contains(n, "working-container") {
				t.Errorf("container %s left behind", n)
			}
		}
	}

	// A build past its timeout fails with a clear message.
	qt, storeT := newTestQueue(t, r, 3*time.Second)
	_, jt, _ := qt.Create(ctx, db.ImageSpec{Name: "slow", BaseImage: slow, APT: []string{"jq"}})
	jt = waitJob(t, storeT, jt.ID, db.StatusFailed, db.StatusSucceeded, db.StatusCancelled)
	if jt.Status != db.StatusFailed || jt.Failure.Text() != "build timed out after 3s" {
		t.Fatalf("timed out job: %+v", jt)
	}
	// The cancelled and the timed-out builds left nothing behind.
	if left := r.Leftovers(t); len(left) > 0 {
		t.Errorf("builds left:\n%s", strings.Join(left, "\n"))
	}
}

// jobEnded says whether job id is over, for logstest.WaitLine.
func jobEnded(store *db.DB, id int64) func() bool {
	return func() bool {
		j, err := store.GetJob(context.Background(), id)
		return err == nil && j.Status.Finished()
	}
}

func logTextOrEmpty(q *Queue, id int64) string {
	raw, _ := os.ReadFile(q.logs.Path(id))
	return string(raw)
}

func TestQueueDeleteCancelsThenRemovesJobsAndLogs(t *testing.T) {
	r := enginetest.Get(t)
	slow := slowAptBase(t, r)
	q, store := newTestQueue(t, r, time.Hour)
	ctx := context.Background()
	_, j, _ := q.Create(ctx, db.ImageSpec{Name: "doomed", BaseImage: slow, APT: []string{"jq"}})
	waitJob(t, store, j.ID, db.StatusBuilding)
	if err := q.Delete(ctx, "doomed"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.GetSpec(ctx, "doomed"); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("spec survived: %v", err)
	}
	if _, err := os.Stat(q.logs.Path(j.ID)); !os.IsNotExist(err) {
		t.Fatalf("log survived: %v", err)
	}
}

func TestQueueConcurrentEditsThroughTheQueue(t *testing.T) {
	r := enginetest.Get(t)
	q, store := newTestQueue(t, r, time.Hour)
	ctx := context.Background()
	base := r.Busybox(t)
	if _, _, err := q.Create(ctx, db.ImageSpec{Name: "many", BaseImage: base}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				if _, _, err := q.Update(ctx, db.ImageSpec{Name: "many", BaseImage: base, Pip: []string{fmt.Sprintf("p%d-%d", w, i)}}); err != nil {
					t.Error(err)
				}
			}
		}(w)
	}
	wg.Wait()
	jobs, _ := store.ListJobs(ctx, "many")
	if len(jobs) != 21 {
		t.Fatalf("%d jobs", len(jobs))
	}
	for i, j := range jobs {
		if j.Revision != 21-i {
			t.Fatalf("revisions not gap-free newest first at %d: %d", i, j.Revision)
		}
	}
	// The newest revision is built; it fails (busybox has no pip) with a reason.
	last := waitJob(t, store, jobs[0].ID, db.StatusFailed, db.StatusSucceeded)
	if last.Failure.Text() != "the Pip step failed (exit status 1): the base image has no pip, so Pip packages cannot be installed; add python3-pip to the APT packages or choose a Python image." {
		t.Fatalf("newest: %+v", last)
	}
}

func TestMain(m *testing.M) { enginetest.Main(m) }
