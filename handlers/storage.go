package handlers

import (
	"errors"
	"path/filepath"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"imagebuilder/builder/disk"
	"imagebuilder/builder/executor"
	"imagebuilder/builder/spec"
	"imagebuilder/db"
	"imagebuilder/views"
)

// storage shows the data directory's free space and the floor below which
// builds are refused.
func (h *handler) storage(c *fiber.Ctx) error {
	l := h.layout(c, "", "storage")
	l.Title = l.Loc.T("storage.title")
	v := views.StoragePage{Layout: l}
	v.Retention.Saved = c.Query("retention") == "saved"
	v.Schedule.Saved = c.Query("schedule") == "saved"
	if err := h.fillStorage(c, &v); err != nil {
		return err
	}
	return render(c, fiber.StatusOK, l, views.StorageContent(v))
}

// fillStorage fills the Storage page: space, caches, usage, retention and
// housekeeping.
func (h *handler) fillStorage(c *fiber.Ctx, v *views.StoragePage) error {
	l := v.Layout
	v.MinFree = executor.HumanBytes(h.MinFreeSpace)
	if h.DataDir != "" {
		v.DataDir, _ = filepath.Abs(h.DataDir)
		free, total, err := disk.FreeSpace(h.DataDir)
		if err != nil {
			return err
		}
		v.Free, v.Total = executor.HumanBytes(free), executor.HumanBytes(total)
		v.Low = h.MinFreeSpace > 0 && free < h.MinFreeSpace
	}
	if h.Caches != nil && !h.Executor.Kubernetes {
		v.ShowCaches = true
		v.CacheMax = l.Loc.T("caches.unbounded")
		if h.CacheMaxSize > 0 {
			v.CacheMax = executor.HumanBytes(h.CacheMaxSize)
		}
		for _, ci := range h.Caches.Caches() {
			v.Caches = append(v.Caches, views.CacheRow{Name: cacheNames[ci.ID], Size: executor.HumanBytes(uint64(ci.Bytes)), Files: strconv.Itoa(ci.Files)})
		}
		switch c.Query("caches") {
		case "cleared":
			v.CachesMessage, v.CachesCleared = l.Loc.T("caches.cleared"), true
		case "busy":
			v.CachesMessage = l.Loc.T("caches.busy")
		}
	}
	return h.fillHousekeeping(c, v)
}

var cacheNames = map[string]string{spec.CacheAPT: "APT", spec.CacheConda: "Conda", spec.CachePip: "Pip"}

// clearCaches empties the package caches, unless a build is running.
func (h *handler) clearCaches(c *fiber.Ctx) error {
	if h.Caches == nil {
		return fiber.ErrNotFound
	}
	err := h.Caches.ClearCaches()
	if errors.Is(err, executor.ErrBuildsRunning) {
		return redirectAfterPost(c, "/settings/storage?caches=busy")
	}
	if err != nil {
		return err
	}
	if err := h.DB.Audit(c.UserContext(), db.AuditEvent{Action: db.ActionCachesClear}); err != nil {
		return err
	}
	return redirectAfterPost(c, "/settings/storage?caches=cleared")
}
