package registry

// The layer caches of build pods in the embedded registry: one repository
// per spec under CachePrefix, whose tags are Buildah's cache keys. They
// are bounded here (the newest tags of each spec, none of a deleted one)
// and measured for the Storage page; a collection then frees their blobs.

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// CacheTag is one image of a spec's layer cache.
type CacheTag struct {
	Tag    string
	Pushed time.Time
}

func (r *Registry) repositories() string {
	return filepath.Join(r.dir, "docker", "registry", "v2", "repositories")
}

// CacheSpecs lists the specs that have a layer cache repository.
func (r *Registry) CacheSpecs() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(r.repositories(), strings.TrimSuffix(CachePrefix, "/")))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// CacheTags lists a spec's layer cache images, newest first (by when the
// tag was last pushed).
func (r *Registry) CacheTags(spec string) ([]CacheTag, error) {
	dir := filepath.Join(r.repositories(), filepath.FromSlash(CacheRepository(spec)), "_manifests", "tags")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []CacheTag
	for _, e := range entries {
		st, err := os.Stat(filepath.Join(dir, e.Name(), "current", "link"))
		if err != nil {
			continue // a tag being written or removed
		}
		out = append(out, CacheTag{Tag: e.Name(), Pushed: st.ModTime()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pushed.After(out[j].Pushed) })
	return out, nil
}

// TrimCache untags all but the keep newest images of a spec's layer cache
// (keep 0: all of them) and says how many it untagged.
func (r *Registry) TrimCache(ctx context.Context, spec string, keep int) (int, error) {
	tags, err := r.CacheTags(spec)
	if err != nil || len(tags) <= keep {
		return 0, err
	}
	n := 0
	var errs []error
	for _, t := range tags[keep:] {
		if err := r.Untag(ctx, CacheRepository(spec), t.Tag); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// CacheUsage is how many layer cache images the registry holds and the
// bytes of the layers they name (which revisions may share).
func (r *Registry) CacheUsage() (images int, bytes int64) {
	specs, _ := r.CacheSpecs()
	seen := map[string]bool{}
	for _, s := range specs {
		tags, _ := r.CacheTags(s)
		images += len(tags)
		layers := filepath.Join(r.repositories(), filepath.FromSlash(CacheRepository(s)), "_layers", "sha256")
		entries, _ := os.ReadDir(layers)
		for _, e := range entries {
			if seen[e.Name()] {
				continue
			}
			seen[e.Name()] = true
			blob := filepath.Join(r.dir, "docker", "registry", "v2", "blobs", "sha256", e.Name()[:min(2, len(e.Name()))], e.Name(), "data")
			if st, err := os.Stat(blob); err == nil {
				bytes += st.Size()
			}
		}
	}
	return images, bytes
}
