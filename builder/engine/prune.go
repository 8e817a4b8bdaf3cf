package engine

import (
	"io/fs"
	"path/filepath"

	"go.podman.io/image/v5/docker/reference"
)

// PruneReport is what a prune of the image store freed.
type PruneReport struct {
	// Before and After are the store's bytes; Images how many were removed.
	Before, After int64
	Images        int
}

// PruneStorage keeps the image store under maxBytes (0: no bound) when
// no build runs: it removes every image but those named in keep (a
// spec's latest revision, the base images in use) and the unnamed
// intermediate images whose top layer one of them stands on, which are
// the layer cache of their steps. An image a container uses stays. With
// builds running it does nothing (ErrBuildsRunning).
func (e *Engine) PruneStorage(keep []string, maxBytes int64) (PruneReport, error) {
	var rep PruneReport
	if !e.cacheMu.TryLock() {
		return rep, ErrBuildsRunning
	}
	defer e.cacheMu.Unlock()
	root := e.store.GraphRoot()
	rep.Before = TreeBytes(root)
	rep.After = rep.Before
	if maxBytes <= 0 || rep.Before <= maxBytes {
		return rep, nil
	}
	wanted := map[string]bool{}
	for _, ref := range keep {
		if named, err := reference.ParseNormalizedNamed(ref); err == nil {
			wanted[reference.TagNameOnly(named).String()] = true
		}
	}
	images, err := e.store.Images()
	if err != nil {
		return rep, err
	}
	kept := map[string]bool{} // image IDs
	keptLayers := map[string]bool{}
	for _, img := range images {
		for _, n := range img.Names {
			if wanted[n] {
				kept[img.ID] = true
				for id := img.TopLayer; id != ""; {
					keptLayers[id] = true
					l, err := e.store.Layer(id)
					if err != nil {
						break
					}
					id = l.Parent
				}
				break
			}
		}
	}
	for _, img := range images {
		if kept[img.ID] || (len(img.Names) == 0 && keptLayers[img.TopLayer]) {
			continue
		}
		if _, err := e.store.DeleteImage(img.ID, true); err == nil {
			rep.Images++
		}
	}
	rep.After = TreeBytes(root)
	return rep, nil
}

// TreeBytes is what the regular files under dir take (missing: 0).
func TreeBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
