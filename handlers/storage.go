package handlers

import (
	"path/filepath"

	"github.com/gofiber/fiber/v2"

	"imagebuilder/builder/engine"
	"imagebuilder/builder/executor"
	"imagebuilder/views"
)

// storage shows the data directory's free space and the floor below which
// builds are refused.
func (h *handler) storage(c *fiber.Ctx) error {
	l := h.layout(c, "", "storage")
	l.Title = l.Loc.T("storage.title")
	v := views.StoragePage{Layout: l, MinFree: executor.HumanBytes(h.MinFreeSpace)}
	if h.DataDir != "" {
		v.DataDir, _ = filepath.Abs(h.DataDir)
		free, total, err := engine.FreeSpace(h.DataDir)
		if err != nil {
			return err
		}
		v.Free, v.Total = executor.HumanBytes(free), executor.HumanBytes(total)
		v.Low = h.MinFreeSpace > 0 && free < h.MinFreeSpace
	}
	return render(c, fiber.StatusOK, l, views.StorageContent(v))
}
