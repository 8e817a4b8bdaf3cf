package handlers

import (
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"imagebuilder/db"
)

// The API of a revision beyond its job: its packages (the SBOM and pinned
// spec downloads are the job page's handlers) and the active revision.

// apiPackages is a succeeded revision's package inventory.
func (h *handler) apiPackages(c *fiber.Ctx) error {
	j, inv, err := h.inventoryOf(c)
	if err != nil {
		return err
	}
	pkgs := inv.Packages
	if pkgs == nil {
		pkgs = []db.Package{}
	}
	return c.JSON(struct {
		Job           int64        `json:"job"`
		Image         string       `json:"image"`
		Digest        string       `json:"digest"`
		DistroID      string       `json:"distroId,omitempty"`
		DistroVersion string       `json:"distroVersion,omitempty"`
		ScannedAt     time.Time    `json:"scannedAt"`
		Packages      []db.Package `json:"packages"`
	}{j.ID, j.Image, j.Digest, inv.DistroID, inv.DistroVersion, inv.ScannedAt, pkgs})
}

// apiActivate pins a succeeded revision as the spec's active one ({"job":
// ID}), or goes back to the latest succeeded one ({"job": 0}).
func (h *handler) apiActivate(c *fiber.Ctx) error {
	name := utils.CopyString(c.Params("name"))
	var in struct {
		Job *int64 `json:"job"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if in.Job == nil || *in.Job < 0 {
		return fiber.NewError(fiber.StatusBadRequest, locOf(c).T("api.badnumber", "job", ""))
	}
	if err := h.Queue.Activate(c.UserContext(), name, *in.Job); err != nil {
		return err
	}
	s, err := h.apiSpec(c, name)
	if err != nil {
		return err
	}
	return c.JSON(s)
}
