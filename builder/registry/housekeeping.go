package registry

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path/filepath"
	"sync"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/registry/storage"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	"github.com/distribution/reference"
)

// gate lets pushes run together and garbage collection alone: a request
// that writes (anything but GET and HEAD) holds it shared, a collection
// holds it whole, so no blob is swept while a push still links it.
type gate struct {
	mu   sync.RWMutex
	next http.Handler
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		g.mu.RLock()
		defer g.mu.RUnlock()
	}
	g.next.ServeHTTP(w, r)
}

// namespace is the registry's storage, opened beside the server on the
// same directory, for tag deletion and garbage collection.
func (r *Registry) namespace(ctx context.Context) (distribution.Namespace, *filesystem.Driver, error) {
	drv := filesystem.New(filesystem.DriverParameters{RootDirectory: r.dir, MaxThreads: 100})
	ns, err := storage.NewRegistry(ctx, drv, storage.EnableDelete)
	if err != nil {
		return nil, nil, fmt.Errorf("embedded registry storage: %w", err)
	}
	return ns, drv, nil
}

// Untag removes one tag of repo (e.g. "team/tools", "3"); the manifest
// and blobs stay until a collection finds nothing else tags them. A tag
// that is already gone is no error.
func (r *Registry) Untag(ctx context.Context, repo, tag string) error {
	ns, _, err := r.namespace(ctx)
	if err != nil {
		return err
	}
	named, err := reference.WithName(repo)
	if err != nil {
		return fmt.Errorf("repository %q: %w", repo, err)
	}
	rep, err := ns.Repository(ctx, named)
	if err != nil {
		return fmt.Errorf("repository %q: %w", repo, err)
	}
	err = rep.Tags(ctx).Untag(ctx, tag)
	var unknown distribution.ErrTagUnknown
	if err == nil || errors.As(err, &unknown) || isPathNotFound(err) {
		return nil
	}
	return fmt.Errorf("untag %s:%s: %w", repo, tag, err)
}

func isPathNotFound(err error) bool {
	var nf storagedriver.PathNotFoundError
	return errors.As(err, &nf)
}

// GCReport is what a collection removed.
type GCReport struct {
	BlobsBefore, BlobsAfter int
	BytesBefore, BytesAfter int64
}

// Freed is how many bytes the collection freed.
func (g GCReport) Freed() int64 { return g.BytesBefore - g.BytesAfter }

// CollectGarbage removes the manifests no tag names and the blobs nothing
// references, with pushes held back meanwhile.
func (r *Registry) CollectGarbage(ctx context.Context) (GCReport, error) {
	r.gate.mu.Lock()
	defer r.gate.mu.Unlock()
	var rep GCReport
	rep.BlobsBefore, rep.BytesBefore = r.blobUsage()
	ns, drv, err := r.namespace(ctx)
	if err != nil {
		return rep, err
	}
	err = storage.MarkAndSweep(ctx, drv, ns, storage.GCOpts{RemoveUntagged: true, Quiet: true})
	rep.BlobsAfter, rep.BytesAfter = r.blobUsage()
	if err != nil {
		return rep, fmt.Errorf("embedded registry garbage collection: %w", err)
	}
	return rep, nil
}

// blobUsage counts the blobs and their bytes.
func (r *Registry) blobUsage() (int, int64) {
	n, size := 0, int64(0)
	_ = filepath.WalkDir(filepath.Join(r.dir, "docker", "registry", "v2", "blobs"), func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "data" {
			return nil
		}
		if info, err := d.Info(); err == nil {
			n++
			size += info.Size()
		}
		return nil
	})
	return n, size
}

// BlobBytes is how many bytes the registry's blobs take.
func (r *Registry) BlobBytes() int64 {
	_, size := r.blobUsage()
	return size
}
