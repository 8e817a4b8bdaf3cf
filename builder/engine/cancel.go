package engine

// Stopping a cancelled build: its step processes, its containers.

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.podman.io/storage"
)

// killOnCancel watches ctx; once it is done, it repeatedly SIGKILLs every
// process whose root directory is the mounted rootfs of a container whose
// name holds suffix, until the returned stop function is called.
func (e *Engine) killOnCancel(ctx context.Context, suffix string) (stop func()) {
	return repeat(ctx.Done(), 100*time.Millisecond, func() { e.killContainerProcesses(suffix) })
}

// repeat calls f once start is closed (a nil channel never is) and then
// every interval, until the returned stop function is called; stop returns
// once f has run for the last time.
func repeat(start <-chan struct{}, interval time.Duration, f func()) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		select {
		case <-done:
			return
		case <-start:
		}
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			f()
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// now is a start channel for repeat that is already closed.
var now = func() <-chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// containerUppers are the overlay upperdir options of the working
// containers whose names hold suffix. A RUN step pivots into its
// container's overlay: in its own mount namespace, "/" is the overlay
// whose upperdir is the container's layer.
func (e *Engine) containerUppers(suffix string) []string {
	ctrs, err := e.store.Containers()
	if err != nil {
		return nil
	}
	var uppers []string
	for _, c := range ctrs {
		for _, n := range c.Names {
			if strings.Contains(n, suffix) {
				uppers = append(uppers, "upperdir="+filepath.Join(e.store.GraphRoot(), "overlay", c.LayerID, "diff")+",")
				break
			}
		}
	}
	return uppers
}

func (e *Engine) killContainerProcesses(suffix string) {
	uppers := e.containerUppers(suffix)
	if len(uppers) == 0 {
		return
	}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if rootUpperdirMatches(filepath.Join("/proc", p.Name(), "mountinfo"), uppers) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// rootUpperdirMatches reports whether the "/" mount in a mountinfo file has
// one of the given upperdir options.
func rootUpperdirMatches(mountinfo string, uppers []string) bool {
	raw, err := os.ReadFile(mountinfo)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || f[4] != "/" {
			continue
		}
		for _, u := range uppers {
			if strings.Contains(line, u) || strings.HasSuffix(line, strings.TrimSuffix(u, ",")) {
				return true
			}
		}
	}
	return false
}

// buildContainerMark starts the name suffix of every build's working
// containers; the rest of the suffix is unique to the build.
const buildContainerMark = "ib-build-"

// removeBuildContainers deletes the working containers whose names hold
// match: those a failed or cancelled build left behind (buildah removes
// them itself on the normal paths), or at start-up every build's. Other
// builds running at the same time keep theirs.
func (e *Engine) removeBuildContainers(match string) {
	ctrs, err := e.store.Containers()
	if err != nil {
		return
	}
	for _, c := range ctrs {
		if !slices.ContainsFunc(c.Names, func(n string) bool { return strings.Contains(n, match) }) {
			continue
		}
		if _, err := e.store.Unmount(c.ID, true); err != nil && !errors.Is(err, storage.ErrLayerNotMounted) {
			continue
		}
		_ = e.store.DeleteContainer(c.ID)
	}
}
