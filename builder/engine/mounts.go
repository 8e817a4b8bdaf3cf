package engine

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	Point   string // where it is mounted
	Root    string // what of its file system is mounted there ("/" unless a bind)
	Type    string // the file system type, e.g. overlay
	Options string // the file system's own options (lowerdir=…, upperdir=…)
}

// mounts lists this mount namespace's mounts.
func mounts() ([]mountEntry, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseMountinfo(f)
}

// parseMountinfo reads a /proc/<pid>/mountinfo.
func parseMountinfo(r io.Reader) ([]mountEntry, error) {
	var out []mountEntry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		e := mountEntry{Point: unescapeMount(fields[4]), Root: unescapeMount(fields[3])}
		for i := 5; i < len(fields); i++ {
			if fields[i] == "-" && i+3 < len(fields) {
				e.Type, e.Options = fields[i+1], unescapeMount(fields[i+3])
				break
			}
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, strings.TrimSuffix(dir, "/")+"/")
}

// unmountWhere detaches every mount for which match is true, deepest
// first, and returns their mount points.
func unmountWhere(match func(mountEntry) bool) ([]string, error) {
	all, err := mounts()
	if err != nil {
		return nil, fmt.Errorf("list mounts: %w", err)
	}
	var points []string
	for _, m := range all {
		if match(m) {
			points = append(points, m.Point)
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	var errs []error
	for _, p := range points {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
		}
	}
	return points, errors.Join(errs...)
}

// usesLower reports whether an overlay mount has a lower directory for
// which match is true.
func usesLower(m mountEntry, match func(lower string) bool) bool {
	for _, opt := range strings.Split(m.Options, ",") {
		if lowers, ok := strings.CutPrefix(opt, "lowerdir="); ok {
			for _, l := range strings.Split(lowers, ":") {
				if match(l) {
					return true
				}
			}
		}
	}
	return false
}

// below is a lower-directory match for dir and what is below it.
func below(dir string) func(string) bool { return func(p string) bool { return within(p, dir) } }

// releaseBuildScratch undoes what one build left in the scratch directory:
// the overlay Buildah mounts over the build's context directory work (it
// stays after a cancelled build) and the buildah-context directory under
// it.
func (e *Engine) releaseBuildScratch(work string) error {
	points, err := unmountWhere(func(m mountEntry) bool {
		return usesLower(m, below(work)) || within(m.Point, work)
	})
	errs := []error{err}
	for _, p := range points {
		if rel, err := filepath.Rel(e.scratchDir, p); err == nil && !strings.HasPrefix(rel, "..") {
			top := strings.SplitN(rel, string(filepath.Separator), 2)[0]
			if strings.HasPrefix(top, "buildah-context-") {
				errs = append(errs, os.RemoveAll(filepath.Join(e.scratchDir, top)))
			}
		}
	}
	return errors.Join(errs...)
}

// isBuildScratch reports whether a name in the scratch directory is one
// Buildah or containers/image makes for one build (build context
// overlays, blob copies). The package caches (see cache.go) stay.
func isBuildScratch(name string) bool {
	if strings.HasPrefix(name, "buildah-cache") {
		return false
	}
	return strings.HasPrefix(name, "buildah") || strings.HasPrefix(name, "container_images_")
}

// RemoveLeftovers undoes what builds of an earlier process left behind,
// and must run before this process starts any build: it ends the
// processes still running in build containers, unmounts everything in the
// scratch directory and every overlay over a build context, then removes
// the scratch contents and the build context directories. Processes that
// are already gone and mounts already released are not errors.
func (e *Engine) RemoveLeftovers() error {
	e.killContainerProcesses(buildContainerMark)
	_, err := unmountWhere(func(m mountEntry) bool {
		return within(m.Point, e.scratchDir) || usesLower(m, below(e.scratchDir)) ||
			usesLower(m, func(l string) bool { return strings.HasPrefix(l, filepath.Join(e.runDir, "build-")) })
	})
	errs := []error{err}
	if entries, err := os.ReadDir(e.scratchDir); err == nil {
		for _, d := range entries {
			if isBuildScratch(d.Name()) {
				errs = append(errs, os.RemoveAll(filepath.Join(e.scratchDir, d.Name())))
			}
		}
	}
	if works, err := filepath.Glob(filepath.Join(e.runDir, "build-*")); err == nil {
		for _, w := range works {
			errs = append(errs, os.RemoveAll(w))
		}
	}
	e.removeBuildContainers(buildContainerMark)
	e.removeStaleCgroups()
	return errors.Join(errs...)
}

// lockAndSweep takes the data directory's engine lock. When no other
// process holds it, nothing under the data directory can be in use: what
// a killed process left is swept first (its build processes ended, its
// mounts, the store's run state as a reboot would reset it). Then the lock
// is held shared for the engine's life, so other processes (a CLI import
// beside the server) may open the directory but not sweep it.
func (e *Engine) lockAndSweep() error {
	f, err := os.OpenFile(filepath.Join(e.runDir, "engine.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("open the engine lock: %w", err)
	}
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
		errs := []error{killProcessesUnder(e.dataDir)}
		e.removeStaleCgroups()
		_, err := unmountWhere(e.leftByBuilds)
		errs = append(errs, err, os.RemoveAll(filepath.Join(e.runDir, "storage")))
		if err := errors.Join(errs...); err != nil {
			f.Close()
			return fmt.Errorf("sweep what an earlier process left in %s: %w", e.dataDir, err)
		}
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH); err != nil {
		f.Close()
		return fmt.Errorf("take the engine lock: %w", err)
	}
	e.lock = f
	return nil
}

// leftByBuilds reports whether a mount is one that builds and the image
// store make: an overlay over layers in the data directory, the store's
// bind of its overlay directory, or anything strictly inside the scratch
// and run directories. An administrator's own mounts (the data directory
// itself, or a disk for its logs) are never among them.
func (e *Engine) leftByBuilds(m mountEntry) bool {
	switch {
	case m.Type == "overlay" && (within(m.Point, e.dataDir) || usesLower(m, below(e.dataDir))):
		return true
	case m.Point == filepath.Join(e.dataDir, "storage", "overlay") && m.Root != "/":
		return true
	}
	for _, d := range []string{e.scratchDir, e.runDir} {
		if m.Point != d && within(m.Point, d) {
			return true
		}
	}
	return false
}

// killProcessesUnder ends every process (but this one) whose root is an
// overlay built from layers under dir: build steps of a process that was
// killed, which outlive it. It waits up to two seconds for them to go.
func killProcessesUnder(dir string) error {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	var killed []int
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", p.Name(), "mountinfo"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(raw), "\n") {
			f := strings.Fields(line)
			if len(f) < 5 || f[4] != "/" {
				continue
			}
			if strings.Contains(line, "upperdir="+dir+"/") || strings.Contains(line, "lowerdir="+dir+"/") {
				if unix.Kill(pid, unix.SIGKILL) == nil {
					killed = append(killed, pid)
				}
			}
			break
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for _, pid := range killed {
		for unix.Kill(pid, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}
