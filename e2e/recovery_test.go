package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"imagebuilder/db"
)

// The real binary is killed with SIGKILL mid-build and started again: the
// interrupted job fails with a reason at the end of its log, the job that
// was waiting runs, and nothing typed in before the crash is lost.
func TestKilledServerRecoversJobsAfterRestart(t *testing.T) {
	in := newInstance(t)
	slow := in.importBase(slowAptRootfs(t), "library/slow-apt:1", "Slow apt")
	busybox := in.importBase(baseTar(t, "busybox.tar"), "library/busybox:latest", "BusyBox")
	srv := in.serve()
	store := in.store()
	ctx := context.Background()

	if resp := srv.postForm("/specs", url.Values{"name": {"stuck"}, "baseImage": {slow}, "apt": {"jq"}}); resp.StatusCode != 303 {
		t.Fatalf("create stuck: %s", resp.Status)
	}
	if resp := srv.postForm("/specs", url.Values{"name": {"waiting"}, "baseImage": {busybox}}); resp.StatusCode != 303 {
		t.Fatalf("create waiting: %s", resp.Status)
	}
	stuck, _ := store.ListJobs(ctx, "stuck")
	waiting, _ := store.ListJobs(ctx, "waiting")
	if len(stuck) != 1 || len(waiting) != 1 {
		t.Fatalf("jobs: %d stuck, %d waiting", len(stuck), len(waiting))
	}
	waitJob(t, store, stuck[0].ID, time.Minute, db.StatusBuilding)
	waitLog(t, in.logPath(stuck[0].ID), "apt-get is slow today", time.Minute)
	if j, _ := store.GetJob(ctx, waiting[0].ID); j.Status != db.StatusPending {
		t.Fatalf("waiting job is %s", j.Status)
	}
	if len(buildCgroups(t, in.dir)) == 0 {
		t.Error("the running build has no control group")
	}

	srv.kill()

	restarted := in.serve()
	got := waitJob(t, store, stuck[0].ID, 30*time.Second, db.StatusFailed)
	if got.Failure.Text() != "interrupted by server restart" {
		t.Fatalf("interrupted job: %+v", got)
	}
	raw, _ := os.ReadFile(in.logPath(stuck[0].ID))
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if last := lines[len(lines)-1]; !strings.HasSuffix(last, "Image Builder: revision 1 failed: interrupted by server restart") {
		t.Fatalf("last log line: %q", last)
	}
	done := waitJob(t, store, waiting[0].ID, time.Minute, db.StatusSucceeded, db.StatusFailed)
	if done.Status != db.StatusSucceeded || done.Digest == "" {
		t.Fatalf("the waiting job after restart: %+v", done)
	}
	spec, err := store.GetSpec(ctx, "stuck")
	if err != nil || spec.APT[0] != "jq" || spec.BaseImage != slow {
		t.Fatalf("spec after the crash: %+v %v", spec, err)
	}
	// The restart ended the killed build's processes and released its
	// mounts; a clean stop leaves nothing either.
	if left := buildProcessesUnder(t, in.dir); len(left) > 0 {
		t.Errorf("processes of the killed build still run:\n%s", strings.Join(left, "\n"))
	}
	if left := buildCgroups(t, in.dir); len(left) > 0 {
		t.Errorf("control groups of the killed build are left:\n%s", strings.Join(left, "\n"))
	}
	restarted.stop()
	if left := mountsUnder(t, in.dir); len(left) > 0 {
		t.Fatalf("mounts left under the data directory:\n%s", strings.Join(left, "\n"))
	}
}

// buildCgroups lists the build control groups of the data directory dir
// (named build-<first 8 hex of sha256 of its absolute path>-…), in every
// hierarchy.
func buildCgroups(t *testing.T, dir string) []string {
	abs, err := filepath.Abs(dir)
	must(t, err)
	sum := sha256.Sum256([]byte(abs))
	prefix := "build-" + hex.EncodeToString(sum[:4]) + "-"
	var out []string
	for _, pattern := range []string{"/sys/fs/cgroup/imagebuilder/", "/sys/fs/cgroup/*/imagebuilder/"} {
		m, _ := filepath.Glob(pattern + prefix + "*")
		out = append(out, m...)
	}
	return out
}

// SIGTERM stops taking jobs, cancels the running build and records it.
func TestGracefulShutdownRecordsRunningBuildAsCancelled(t *testing.T) {
	in := newInstance(t)
	slow := in.importBase(slowAptRootfs(t), "library/slow-apt:1", "Slow apt")
	srv := in.serve()
	store := in.store()
	if resp := srv.postForm("/specs", url.Values{"name": {"long"}, "baseImage": {slow}, "apt": {"jq"}}); resp.StatusCode != 303 {
		t.Fatalf("create: %s", resp.Status)
	}
	jobs, _ := store.ListJobs(context.Background(), "long")
	waitJob(t, store, jobs[0].ID, time.Minute, db.StatusBuilding)
	waitLog(t, in.logPath(jobs[0].ID), "apt-get is slow today", time.Minute)
	start := time.Now()
	srv.stop()
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("shutdown took %s", d)
	}
	j, _ := store.GetJob(context.Background(), jobs[0].ID)
	if j.Status != db.StatusCancelled || j.Failure.Text() != "cancelled: the server shut down" {
		t.Fatalf("after SIGTERM: %+v", j)
	}
	if left := mountsUnder(t, in.dir); len(left) > 0 {
		t.Fatalf("a clean stop left mounts under the data directory:\n%s", strings.Join(left, "\n"))
	}
}

// Killed while committing a large layer: the restart leaves no process of
// the old build and, after a clean stop, nothing mounted under the data
// directory.
func TestKilledDuringCommitLeavesNothingAfterRestart(t *testing.T) {
	in := newInstance(t)
	big := in.importBase(busyboxWithAptGet(t, "echo writing a large layer\ndd if=/dev/urandom of=/big bs=1M count=400 2>/dev/null\necho layer written\n"), "library/big:1", "Big")
	srv := in.serve()
	store := in.store()
	if resp := srv.postForm("/specs", url.Values{"name": {"big"}, "baseImage": {big}, "apt": {"jq"}}); resp.StatusCode != 303 {
		t.Fatalf("create: %s", resp.Status)
	}
	jobs, _ := store.ListJobs(t.Context(), "big")
	waitLog(t, in.logPath(jobs[0].ID), "COMMIT", 2*time.Minute)
	srv.kill()

	restarted := in.serve()
	got := waitJob(t, store, jobs[0].ID, 30*time.Second, db.StatusFailed)
	if got.Failure.Text() != "interrupted by server restart" {
		t.Fatalf("interrupted job: %+v", got)
	}
	if left := buildProcessesUnder(t, in.dir); len(left) > 0 {
		t.Errorf("processes of the killed build still run:\n%s", strings.Join(left, "\n"))
	}
	restarted.stop()
	if left := mountsUnder(t, in.dir); len(left) > 0 {
		t.Fatalf("mounts left under the data directory:\n%s", strings.Join(left, "\n"))
	}
}
