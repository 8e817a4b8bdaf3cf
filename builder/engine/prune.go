package engine

import (
	"go.podman.io/image/v5/docker/reference"

	"imagebuilder/builder/disk"
	"imagebuilder/builder/executor"
)

// PruneStorage keeps the image store under maxBytes (0: no bound) when
// no build runs: it removes every image but those named in keep (a
// spec's latest revision, the base images in use) and the unnamed
// intermediate images whose top layer one of them stands on, which are
// the layer cache of their steps. An image a container uses stays. With
// builds running it does nothing (executor.ErrBuildsRunning).
func (e *Engine) PruneStorage(keep []string, maxBytes int64) (executor.PruneReport, error) {
	var rep executor.PruneReport
	if !e.cacheMu.TryLock() {
		return rep, executor.ErrBuildsRunning
	}
	defer e.cacheMu.Unlock()
	root := e.store.GraphRoot()
	rep.Before = disk.TreeBytes(root)
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
	rep.After = disk.TreeBytes(root)
	return rep, nil
}
