package engine

import (
	"bytes"
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
// (opencontainers/cgroups: v1 memory and cpu controllers, or v2), a
// watcher moves each step's first process into it, and the step waits
// for that (spec.Options.Gate) before it starts its package manager.
// Everything the step then starts is born in the group. The portal stays
// outside: a build over its memory limit loses its step to the kernel's
// OOM killer, and the build fails as "out of memory".

const cgroupParent = "imagebuilder"

// buildCgroup is one build's control group.
type buildCgroup struct {
	mgr    cgroups.Manager
	limits executor.Limits
	marker string // what /proc/<pid>/cgroup shows for a member
	// looks counts adoptSteps' looks, for the slower full scan.
	looks int
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
	return &buildCgroup{mgr: mgr, limits: l, marker: "/" + cgroupParent + "/" + name + "\n"}, nil
}

// holds reports whether pid is in the group already.
func (g *buildCgroup) holds(pid int) bool {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	return err == nil && bytes.Contains(raw, []byte(g.marker))
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

// fullScanEvery is how many looks at this process's descendants come
// before one at every process.
const fullScanEvery = 10

// adoptSteps moves the processes of this build's steps that are not in
// the group yet into it: the processes whose root is one of the build's
// containers. It looks among this process's descendants, and every
// fullScanEvery looks among all processes, since a step whose runtime
// parent exited first is reparented out of this process's tree.
func (e *Engine) adoptSteps(suffix string, g *buildCgroup) {
	uppers := e.containerUppers(suffix)
	if len(uppers) == 0 {
		return
	}
	g.looks++
	candidates := outsideDescendants(g)
	if g.looks%fullScanEvery == 0 {
		candidates = outsideProcesses(g)
	}
	for _, pid := range candidates {
		if rootUpperdirMatches(fmt.Sprintf("/proc/%d/mountinfo", pid), uppers) {
			_ = g.mgr.Apply(pid)
		}
	}
}

// outsideProcesses lists every process but this one that is not in g.
func outsideProcesses(g *buildCgroup) []int {
	self := os.Getpid()
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, en := range entries {
		if pid, err := strconv.Atoi(en.Name()); err == nil && pid != self && !g.holds(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// outsideDescendants lists this process's descendants that are not in g.
// It runs every 50 ms while a build does, so it walks down from this
// process (/proc/<pid>/task/*/children) and not into a process already in
// g, whose children were born there; without those files (a kernel
// without CONFIG_PROC_CHILDREN) it reads every process's parent instead.
func outsideDescendants(g *buildCgroup) []int {
	self := os.Getpid()
	if _, err := os.Stat(fmt.Sprintf("/proc/%d/task/%d/children", self, self)); err != nil {
		var out []int
		parent := processParents()
		for pid := range parent {
			if pid != self && descends(pid, self, parent) && !g.holds(pid) {
				out = append(out, pid)
			}
		}
		return out
	}
	var out []int
	for next := children(self); len(next) > 0; {
		pid := next[0]
		next = next[1:]
		if g.holds(pid) {
			continue
		}
		out = append(out, pid)
		next = append(next, children(pid)...)
	}
	return out
}

// children lists pid's child processes, from each of its threads.
func children(pid int) []int {
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		for _, field := range strings.Fields(string(raw)) {
			if c, err := strconv.Atoi(field); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// processParents maps every process to its parent.
func processParents() map[int]int {
	out := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, en := range entries {
		pid, err := strconv.Atoi(en.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile("/proc/" + en.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		rest := raw[bytes.LastIndexByte(raw, ')')+1:]
		f := strings.Fields(string(rest))
		if len(f) >= 2 {
			ppid, _ := strconv.Atoi(f[1])
			out[pid] = ppid
		}
	}
	return out
}

func descends(pid, ancestor int, parent map[int]int) bool {
	for i := 0; i < 64 && pid > 1; i++ {
		pid = parent[pid]
		if pid == ancestor {
			return true
		}
	}
	return false
}

// watchSteps adopts the build's step processes every 50 ms until stop.
func (e *Engine) watchSteps(suffix string, g *buildCgroup) (stop func()) {
	return repeat(now, 50*time.Millisecond, func() { e.adoptSteps(suffix, g) })
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
