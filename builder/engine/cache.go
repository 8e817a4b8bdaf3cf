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

	"golang.org/x/sync/semaphore"

	"imagebuilder/builder/executor"
	"imagebuilder/builder/spec"
)

// The package managers' caches are Buildah cache mounts
// (RUN --mount=type=cache,id=…): directories of the scratch space that a
// step sees at spec.CacheDir and that outlive the build. The engine keeps
// them bounded and lets an administrator clear them. Builds hold cacheMu
// shared; clearing and pruning hold it alone, so they never pull a cache
// from under a running step.

// cacheWaitNote is how often a build waiting for a package cache says so.
var cacheWaitNote = 30 * time.Second

// holdCaches waits until no other build on this engine uses the exclusive
// caches (spec.ExclusiveCaches) that containerfile mounts, and takes them;
// release gives them back. A cancel or a timeout ends the wait.
func (e *Engine) holdCaches(ctx context.Context, containerfile string, log io.Writer) (release func(), err error) {
	var held []*semaphore.Weighted
	release = func() {
		for _, s := range held {
			s.Release(1)
		}
	}
	mounted := spec.CachesMounted(containerfile)
	for _, id := range spec.ExclusiveCaches {
		s := e.exclusive[id]
		if s == nil || !slices.Contains(mounted, id) {
			continue
		}
		if !s.TryAcquire(1) {
			fmt.Fprintf(log, "Image Builder: waiting for the package cache %s, which another build on this host is using\n", id)
			// A line now and then, so a silence timeout does not take the
			// wait for a hung build.
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
			err := s.Acquire(ctx, 1)
			close(done)
			<-finished
			if err != nil {
				release()
				return nil, fmt.Errorf("%w: %v", executor.ErrCancelled, context.Cause(ctx))
			}
		}
		held = append(held, s)
	}
	return release, nil
}

var cacheIDs = []string{spec.CacheAPT, spec.CacheConda, spec.CachePip}

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
		if err := e.clear(c.ID); err != nil {
			fmt.Fprintf(log, "Image Builder: warning: clearing the %s cache: %v\n", c.ID, err)
			continue
		}
		fmt.Fprintf(log, "Image Builder: the package caches held more than %s; cleared the %s cache (%s)\n",
			executor.HumanBytes(uint64(e.maxCache)), c.ID, executor.HumanBytes(uint64(c.Bytes)))
		total -= c.Bytes
	}
}
