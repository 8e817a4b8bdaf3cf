package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"

	"imagebuilder/builder/executor"
)

// Per-build limits. Buildah's chroot isolation runs a step as a child of
// this process and ignores cgroup settings (its cgroupfs is read-only), so
// the engine does it itself: each build gets a control group of its own
// (opencontainers/cgroups: v1 memory and cpu controllers, or v2), and
// each step, before it starts, asks this process to move it there (package
// stepexit, over the socket adopt.go serves), so everything the step
// starts is born in the group. The portal stays outside: a build over its
// memory limit loses its step to the kernel's OOM killer, and the build
// fails as "out of memory".

const cgroupParent = "imagebuilder"

// buildCgroup is one build's control group.
type buildCgroup struct {
	mgr    cgroups.Manager
	limits executor.Limits
}

// cgroupPrefix starts the name of every build group of this data
// directory ("build-<hash of the directory>-"), so a sweep at start-up
// removes only what this directory's builds left.
func (e *Engine) cgroupPrefix() string {
	sum := sha256.Sum256([]byte(e.dataDir))
	return "build-" + hex.EncodeToString(sum[:4]) + "-"
}

// newBuildCgroup makes the group for the build whose containers carry
// suffix.
func (e *Engine) newBuildCgroup(suffix string, l executor.Limits) (*buildCgroup, error) {
	name := e.cgroupPrefix() + strings.TrimPrefix(suffix, buildContainerMark)
	res := &cgroups.Resources{}
	if l.Memory > 0 {
		res.Memory = l.Memory
		res.MemorySwap = l.Memory // no swap beyond the limit
	}
	if l.CPUs > 0 {
		res.CpuPeriod = 100000
		res.CpuQuota = int64(l.CPUs * 100000)
	}
	cfg := &cgroups.Cgroup{Path: "/" + cgroupParent + "/" + name, Resources: res}
	var paths map[string]string
	if !cgroups.IsCgroup2UnifiedMode() {
		// Only the controllers the limits need: joining every v1
		// hierarchy (devices, cpuset, …) would change more than limits.
		paths = map[string]string{}
		for _, sub := range []string{"memory", "cpu"} {
			mnt, err := cgroups.FindCgroupMountpoint("", sub)
			if err != nil {
				return nil, fmt.Errorf("cgroup %s controller: %w", sub, err)
			}
			paths[sub] = filepath.Join(mnt, cgroupParent, name)
		}
	} else {
		res.Unified = map[string]string{"memory.oom.group": "1"}
	}
	mgr, err := manager.NewWithPaths(cfg, paths)
	if err != nil {
		return nil, err
	}
	if err := mgr.Apply(-1); err != nil {
		_ = mgr.Destroy()
		return nil, fmt.Errorf("create cgroup %s: %w", cfg.Path, err)
	}
	if err := mgr.Set(res); err != nil && res.MemorySwap > 0 {
		// Without swap accounting there is no memsw limit to set.
		res.MemorySwap = 0
		err = mgr.Set(res)
		if err != nil {
			_ = mgr.Destroy()
			return nil, fmt.Errorf("limit cgroup %s: %w", cfg.Path, err)
		}
	} else if err != nil {
		_ = mgr.Destroy()
		return nil, fmt.Errorf("limit cgroup %s: %w", cfg.Path, err)
	}
	return &buildCgroup{mgr: mgr, limits: l}, nil
}

// oomKills is how many processes of the group the kernel killed for
// going over the memory limit.
func (g *buildCgroup) oomKills() uint64 {
	n, _ := g.mgr.OOMKillCount()
	return n
}

// close ends whatever is left in the group and removes it.
func (g *buildCgroup) close() {
	for i := 0; i < 50; i++ {
		pids, err := g.mgr.GetAllPids()
		if err != nil || len(pids) == 0 {
			break
		}
		for _, p := range pids {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = g.mgr.Destroy()
}

// cgroupsUsable reports whether this process may make control groups for
// builds (root, with a writable cgroup file system).
func (e *Engine) cgroupsUsable() bool {
	g, err := e.newBuildCgroup(buildContainerMark+"probe-"+strconv.Itoa(os.Getpid()), executor.Limits{})
	if err != nil {
		return false
	}
	g.close()
	return true
}

// removeStaleCgroups ends and removes the build groups a killed process
// of this data directory left.
func (e *Engine) removeStaleCgroups() {
	var roots []string
	if cgroups.IsCgroup2UnifiedMode() {
		roots = []string{"/sys/fs/cgroup"}
	} else {
		for _, sub := range []string{"memory", "cpu"} {
			if mnt, err := cgroups.FindCgroupMountpoint("", sub); err == nil {
				roots = append(roots, mnt)
			}
		}
	}
	for _, root := range roots {
		dirs, _ := filepath.Glob(filepath.Join(root, cgroupParent, e.cgroupPrefix()+"*"))
		for _, d := range dirs {
			for i := 0; i < 50; i++ {
				pids, err := cgroups.GetPids(d)
				if err != nil || len(pids) == 0 {
					break
				}
				for _, p := range pids {
					_ = syscall.Kill(p, syscall.SIGKILL)
				}
				time.Sleep(20 * time.Millisecond)
			}
			_ = cgroups.RemovePath(d)
		}
	}
}
