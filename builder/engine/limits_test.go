package engine_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/cgroups"

	"imagebuilder/builder/engine"
	"imagebuilder/builder/engine/enginetest"
	"imagebuilder/builder/executor"
	"imagebuilder/builder/logs/logstest"
	"imagebuilder/db"
)

// A build over its memory limit fails as out of memory, naming the
// limit; the portal's process is not in the build's group and lives on.
// The same build with room enough succeeds, and its steps ran in the
// build's group with the CPU quota applied.
func TestBuildOverItsMemoryLimitFailsAsOutOfMemory(t *testing.T) {
	r := enginetest.Get(t)
	if !r.Engine.Capabilities().StepLimits {
		t.Skip("this machine gives no control groups to the tests")
	}
	base := r.Hungry(t)
	s := db.ImageSpec{Name: "hungry", BaseImage: base, APT: []string{"anything"}}
	var log logstest.Buffer
	adopted := engine.AdoptedSteps()
	_, err := r.Engine.Build(context.Background(), engine.BuildRequest{Spec: s, Tag: "1", Registry: r.Target, Log: &log,
		Limits: executor.Limits{Memory: 64 << 20}})
	var oom *executor.OutOfMemoryError
	if !errors.As(err, &oom) || oom.Limit != "64.0 MiB" {
		t.Fatalf("want out of memory over 64.0 MiB, got %v\n%s", err, log.String())
	}
	out := log.String()
	if !strings.Contains(out, "build limits: memory 64.0 MiB, no CPU limit") || !strings.Contains(out, "/imagebuilder/build-") || !strings.Contains(out, "allocating") {
		t.Errorf("the log does not show the limits, the step's group and its start:\n%s", out)
	}
	// The step asked to join its group before it started, and did.
	if strings.Contains(out, "without the build's limits") || engine.AdoptedSteps() == adopted {
		t.Errorf("the step was not put in the build's group before it started (%d adopted):\n%s", engine.AdoptedSteps()-adopted, out)
	}
	own, _ := os.ReadFile("/proc/self/cgroup")
	if strings.Contains(string(own), "/imagebuilder/") {
		t.Error("the engine's own process joined a build's group")
	}

	// This engine's groups: build-<hash of its data directory>-….
	sum := sha256.Sum256([]byte(r.Dir))
	ours := "build-" + hex.EncodeToString(sum[:4]) + "-*"

	// Enough memory, half a CPU: the step finishes, under the quota.
	quota := make(chan string, 1)
	stop := make(chan struct{})
	go func() {
		dir := "/sys/fs/cgroup/imagebuilder"
		file := "cpu.max"
		if !cgroups.IsCgroup2UnifiedMode() {
			mnt, _ := cgroups.FindCgroupMountpoint("", "cpu")
			dir, file = filepath.Join(mnt, "imagebuilder"), "cpu.cfs_quota_us"
		}
		for {
			if m, _ := filepath.Glob(filepath.Join(dir, ours, file)); len(m) > 0 {
				if b, err := os.ReadFile(m[0]); err == nil {
					quota <- strings.TrimSpace(string(b))
					return
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	var log2 logstest.Buffer
	if _, err := r.Engine.Build(context.Background(), engine.BuildRequest{Spec: s, Tag: "2", Registry: r.Target, Log: &log2,
		Limits: executor.Limits{Memory: 1 << 30, CPUs: 0.5}}); err != nil {
		t.Fatalf("with 1 GiB: %v\n%s", err, log2.String())
	}
	close(stop)
	if !strings.Contains(log2.String(), "allocated 150000000") {
		t.Errorf("the step did not finish:\n%s", log2.String())
	}
	select {
	case q := <-quota:
		if q != "50000" && q != "50000 100000" {
			t.Errorf("CPU quota %q, want half a CPU", q)
		}
	default:
		t.Error("the build's group was never seen")
	}
	if m, _ := filepath.Glob("/sys/fs/cgroup/*/imagebuilder/" + ours); len(m) > 0 {
		t.Errorf("build groups left behind: %v", m)
	}
}
