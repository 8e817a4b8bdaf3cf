package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"time"

	"imagebuilder/builder/executor"
	"imagebuilder/builder/spec"

	"golang.org/x/sys/unix"
)

// The package managers' caches are Buildah cache mounts
// (RUN --mount=type=cache,id=…): directories of the scratch space that a
// step sees at spec.CacheDir and that outlive the build. The engine keeps
// them bounded and lets an administrator clear them. Builds hold cacheMu
// shared; clearing and pruning hold it alone, so they never pull a cache
// from under a running step.

// cacheWaitNote is how often a build waiting for a package cache says so.
var cacheWaitNote = 30 * time.Second

// holdCaches waits until no other build uses the exclusive caches
// (spec.ExclusiveCaches) that containerfile mounts, and takes them; with a
// shared cache directory it also takes each mounted cache's lock there,
// so builds on other hosts sharing it wait too. release gives them back.
// A cancel or a timeout ends the wait.
func (e *Engine) holdCaches(ctx context.Context, containerfile string, log io.Writer) (release func(), err error) {
	var held []func()
	release = func() {
		for i := len(held) - 1; i >= 0; i-- {
			held[i]()
		}
	}
	mounted := spec.CachesMounted(containerfile)
	for _, id := range cacheIDs {
		if !slices.Contains(mounted, id) {
			continue
		}
		exclusive := slices.Contains(spec.ExclusiveCaches, id)
		if s := e.exclusive[id]; s != nil && exclusive {
			err := waitNoting(ctx, log, id, "on this host", func() bool { return s.TryAcquire(1) },
				func(ctx context.Context) error { return s.Acquire(ctx, 1) })
			if err != nil {
				release()
				return nil, err
			}
			held = append(held, func() { s.Release(1) })
		}
		if e.sharedCaches == "" {
			continue
		}
		var unlock func()
		err := waitNoting(ctx, log, id, "sharing its directory", func() bool {
			u, err := e.lockShared(ctx, id, exclusive, false)
			unlock = u
			return err == nil
		}, func(ctx context.Context) (err error) {
			unlock, err = e.lockShared(ctx, id, exclusive, true)
			return err
		})
		if err != nil {
			release()
			return nil, err
		}
		held = append(held, unlock)
	}
	return release, nil
}

// waitNoting takes what try takes at once, or says it waits and waits in
// acquire, saying so again now and then, so a silence timeout does not
// take the wait for a hung build.
func waitNoting(ctx context.Context, log io.Writer, id, where string, try func() bool, acquire func(context.Context) error) error {
	if try() {
		return nil
	}
	fmt.Fprintf(log, "Image Builder: waiting for the package cache %s, which another build %s is using\n", id, where)
	start, done, finished := time.Now(), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(cacheWaitNote)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				fmt.Fprintf(log, "Image Builder: still waiting for the package cache %s (%s so far)\n", id, time.Since(start).Round(time.Second))
			}
		}
	}()
	err := acquire(ctx)
	close(done)
	<-finished
	switch {
	case err == nil, errors.Is(err, executor.ErrCancelled):
		return err
	case ctx.Err() != nil:
		return fmt.Errorf("%w: %v", executor.ErrCancelled, context.Cause(ctx))
	}
	return fmt.Errorf("package cache %s: %w", id, err)
}

var cacheIDs = []string{spec.CacheAPT, spec.CacheConda, spec.CachePip}

// linkSharedCaches makes the directory where Buildah keeps cache mounts a
// link to dir (a link, not a mount: the sweep of the scratch space never
// unmounts it), so the caches outlive this process's scratch space.
func (e *Engine) linkSharedCaches(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("package cache directory: %w", err)
	}
	link := filepath.Dir(e.cacheDir(spec.CacheAPT))
	if target, err := os.Readlink(link); err == nil && target == dir {
		e.sharedCaches = dir
		return nil
	}
	if err := os.RemoveAll(link); err != nil {
		return err
	}
	if err := os.Symlink(dir, link); err != nil {
		return fmt.Errorf("link the package caches to %s: %w", dir, err)
	}
	e.sharedCaches = dir
	return nil
}

// lockShared takes a cache's lock in the shared cache directory (see
// Config.SharedCacheDir): exclusive for a cache one build at a time may
// use, or to clear it; shared otherwise. With wait false it gives up at
// once when another holds it; a cancelled ctx ends the wait. unlock
// releases it; with no shared directory there is nothing to take.
func (e *Engine) lockShared(ctx context.Context, id string, exclusive, wait bool) (unlock func(), err error) {
	if e.sharedCaches == "" {
		return func() {}, nil
	}
	f, err := os.OpenFile(filepath.Join(e.sharedCaches, id+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("package cache lock: %w", err)
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	for {
		err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) || !wait {
			f.Close()
			return nil, err
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("%w: %v", executor.ErrCancelled, context.Cause(ctx))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// cacheDir is where Buildah keeps a cache mount with this id for root
// (see buildah's internal/volumes: <TMPDIR>/buildah-cache-<uid>/<first 16
// hex of sha256(id + ":0:0")>).
func (e *Engine) cacheDir(id string) string {
	sum := sha256.Sum256([]byte(id + ":0:0"))
	return filepath.Join(e.scratchDir, "buildah-cache-"+strconv.Itoa(os.Getuid()), hex.EncodeToString(sum[:])[:16])
}

// Caches measures each package manager's cache.
func (e *Engine) Caches() []executor.CacheInfo {
	out := make([]executor.CacheInfo, 0, len(cacheIDs))
	for _, id := range cacheIDs {
		info := executor.CacheInfo{ID: id}
		_ = filepath.WalkDir(e.cacheDir(id), func(_ string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			if fi, err := d.Info(); err == nil {
				info.Bytes += fi.Size()
				info.Files++
			}
			return nil
		})
		out = append(out, info)
	}
	return out
}

// ClearCaches empties every package manager's cache, or refuses while a
// build runs.
func (e *Engine) ClearCaches() error {
	if !e.cacheMu.TryLock() {
		return executor.ErrBuildsRunning
	}
	defer e.cacheMu.Unlock()
	return e.clear(cacheIDs...)
}

func (e *Engine) clear(ids ...string) error {
	var errs []error
	for _, id := range ids {
		dir := e.cacheDir(id)
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, en := range entries {
			errs = append(errs, os.RemoveAll(filepath.Join(dir, en.Name())))
		}
	}
	return errors.Join(errs...)
}

// pruneCaches keeps the caches under the engine's bound once no build
// runs: the largest caches are emptied until the rest fit. A cache is
// cleared whole: half of a package cache (Conda's extracted packages, an
// APT list without its index) can be worse than none.
func (e *Engine) pruneCaches(log io.Writer) {
	if e.maxCache <= 0 || !e.cacheMu.TryLock() {
		return
	}
	defer e.cacheMu.Unlock()
	caches := e.Caches()
	var total int64
	for _, c := range caches {
		total += c.Bytes
	}
	sort.Slice(caches, func(i, j int) bool { return caches[i].Bytes > caches[j].Bytes })
	for _, c := range caches {
		if total <= e.maxCache {
			return
		}
		// A build elsewhere that uses it keeps it this time.
		unlock, err := e.lockShared(context.Background(), c.ID, true, false)
		if err != nil {
			continue
		}
		err = e.clear(c.ID)
		unlock()
		if err != nil {
			fmt.Fprintf(log, "Image Builder: warning: clearing the %s cache: %v\n", c.ID, err)
			continue
		}
		fmt.Fprintf(log, "Image Builder: the package caches held more than %s; cleared the %s cache (%s)\n",
			executor.HumanBytes(uint64(e.maxCache)), c.ID, executor.HumanBytes(uint64(c.Bytes)))
		total -= c.Bytes
	}
}
