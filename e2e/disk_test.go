package e2e

import (
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"imagebuilder/db"
)

// mountTmpfs mounts a small tmpfs at dir for the test (tests run as root,
// like the builds they test) and unmounts it when the test is over.
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a %s tmpfs at %s: %v\n%s", size, dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", dir, err, out)
		}
	})
}

// lastLogLine is the last line of a job's log.
func lastLogLine(t *testing.T, in *instance, jobID int64) string {
	t.Helper()
	raw, _ := os.ReadFile(in.logPath(jobID))
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	return lines[len(lines)-1]
}

// A build that fills the data directory fails as "disk full" naming the
// directory, and its log says so last; a build is refused before it starts
// when less than --min-free-space is free.
func TestFullDataDirectoryFailsAsDiskFull(t *testing.T) {
	in := newInstance(t)
	// Unmounted after the server stops (cleanups run last in, first out).
	mountTmpfs(t, in.dir, "96m")
	filler := in.importBase(busyboxWithAptGet(t, "echo filling the disk\ndd if=/dev/zero of=/fill bs=1M count=200\n"), "library/filler:1", "Filler")
	srv := in.serve("--min-free-space", "1MiB")
	store := in.store()
	if resp := srv.postForm("/specs", url.Values{"name": {"filler"}, "baseImage": {filler}, "apt": {"jq"}}); resp.StatusCode != 303 {
		t.Fatalf("create: %s", resp.Status)
	}
	jobs, _ := store.ListJobs(t.Context(), "filler")
	j := waitJob(t, store, jobs[0].ID, 2*time.Minute, db.StatusFailed, db.StatusSucceeded)
	dir, _ := filepath.Abs(in.dir)
	if j.Status != db.StatusFailed || !strings.HasPrefix(j.Failure.Text(), "disk full:") || !strings.Contains(j.Failure.Text(), dir) {
		t.Fatalf("filled disk: %s %q", j.Status, j.Failure.Text())
	}
	if last := lastLogLine(t, in, j.ID); !strings.Contains(last, "revision 1 failed: disk full:") {
		t.Fatalf("last log line: %q", last)
	}
	srv.stop()

	// The floor: nothing starts below it.
	floor := in.serve("--min-free-space", "1TiB")
	if resp := floor.postForm("/specs/filler", url.Values{"baseImage": {filler}}); resp.StatusCode != 303 {
		t.Fatalf("edit: %s", resp.Status)
	}
	jobs, _ = store.ListJobs(t.Context(), "filler")
	j = waitJob(t, store, jobs[0].ID, time.Minute, db.StatusFailed, db.StatusSucceeded)
	if !strings.HasPrefix(j.Failure.Text(), "disk full: only ") || !strings.Contains(j.Failure.Text(), dir) || !strings.Contains(j.Failure.Text(), "a build needs at least 1.0 TiB") {
		t.Fatalf("below the floor: %s %q", j.Status, j.Failure.Text())
	}
	floor.stop()
	if left := mountsUnder(t, in.dir); len(left) > 1 { // the tmpfs itself
		t.Fatalf("mounts left under the data directory:\n%s", strings.Join(left, "\n"))
	}
}

// With the logs on a full file system, the build stops and fails as "disk
// full" naming the log file, instead of dying of a broken pipe.
func TestFullLogFileSystemFailsAsDiskFull(t *testing.T) {
	in := newInstance(t)
	chatty := in.importBase(busyboxWithAptGet(t, "i=0\nwhile [ $i -lt 3000 ]; do echo \"Unpacking line $i of a long and chatty package install\"; i=$((i+1)); done\nsleep 30\n"), "library/chatty:1", "Chatty")
	mountTmpfs(t, filepath.Join(in.dir, "logs"), "16k")
	srv := in.serve("--min-free-space", "1MiB")
	store := in.store()
	if resp := srv.postForm("/specs", url.Values{"name": {"chatty"}, "baseImage": {chatty}, "apt": {"jq"}}); resp.StatusCode != 303 {
		t.Fatalf("create: %s", resp.Status)
	}
	jobs, _ := store.ListJobs(t.Context(), "chatty")
	start := time.Now()
	j := waitJob(t, store, jobs[0].ID, time.Minute, db.StatusFailed, db.StatusSucceeded, db.StatusCancelled)
	logs, _ := filepath.Abs(filepath.Join(in.dir, "logs"))
	if j.Status != db.StatusFailed || !strings.HasPrefix(j.Failure.Text(), "disk full: the job log cannot be written") || !strings.Contains(j.Failure.Text(), logs) {
		t.Fatalf("full log file system: %s %q", j.Status, j.Failure.Text())
	}
	if d := time.Since(start); d > 25*time.Second {
		t.Fatalf("the build ran on for %s after its log filled up", d)
	}
	srv.stop()
}
