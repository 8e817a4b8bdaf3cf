package queue

// The package inventory of a succeeded build, read from the registry.

import (
	"context"
	"fmt"
	"time"

	"go.podman.io/image/v5/docker/reference"

	"imagebuilder/builder/inventory"
	"imagebuilder/builder/logs"
	"imagebuilder/builder/registry"
	"imagebuilder/db"
)

// Inventorier reads what a pushed image holds.
type Inventorier interface {
	// Inventory reads the image ref (host/name@digest) on reg.
	Inventory(ctx context.Context, reg registry.Target, ref string) (inventory.Inventory, error)
}

// inventoryTimeout bounds reading one image's packages.
const inventoryTimeout = 5 * time.Minute

// takeInventory records what a succeeded job's image holds: copied from
// the job whose image it reused, else read from the registry, and compared
// with the previous succeeded revision's. A read that fails is recorded
// with why and never fails the build.
func (q *Queue) takeInventory(ctx context.Context, job db.Job, out db.JobOutcome, reusedFrom int64, log *logs.JobLog) {
	if q.cfg.Inventory == nil || out.Status != db.StatusSucceeded {
		return
	}
	start := time.Now()
	inv := db.Inventory{JobID: job.ID, ScannedAt: start}
	if reusedFrom != 0 {
		if prev, ok, err := q.db.GetInventory(ctx, reusedFrom); err == nil && ok && prev.OK {
			inv.OK, inv.CopiedFrom, inv.DistroID, inv.DistroVersion, inv.Packages = true, reusedFrom, prev.DistroID, prev.DistroVersion, prev.Packages
		}
	}
	if !inv.OK {
		if err := q.readInventory(ctx, job, out, &inv); err != nil {
			inv.Error = err.Error()
		}
	}
	inv.Duration = time.Since(start)
	since := ""
	if inv.OK {
		if prev, ok, err := q.db.PreviousInventoried(ctx, job.SpecName, job.ID); err == nil && ok {
			if old, ok, err := q.db.GetInventory(ctx, prev.ID); err == nil && ok {
				d := inventory.Compare(old.Packages, inv.Packages)
				inv.AgainstJob, inv.Added, inv.Removed, inv.Changed = prev.ID, len(d.Added), len(d.Removed), len(d.Changed)
				since = fmt.Sprintf("; since revision %d: %d added, %d removed, %d changed", prev.Revision, inv.Added, inv.Removed, inv.Changed)
			}
		}
	}
	if err := q.db.SaveInventory(context.WithoutCancel(ctx), inv); err != nil {
		log.Printf("Image Builder: warning: %v", err)
		return
	}
	if !inv.OK {
		log.Printf("Image Builder: the image's package inventory could not be read (%s); the image is not affected", inv.Error)
		return
	}
	counts := inventory.Counts(inv.Packages)
	how := fmt.Sprintf("read in %.2fs", inv.Duration.Seconds())
	if inv.CopiedFrom != 0 {
		how = "the same as the reused image's"
	}
	log.Printf("Image Builder: the image holds %d packages (%d deb, %d python, %d conda), %s%s",
		len(inv.Packages), counts[inventory.TypeDeb], counts[inventory.TypePython], counts[inventory.TypeConda], how, since)
}

// readInventory reads the pushed image's packages into inv.
func (q *Queue) readInventory(ctx context.Context, job db.Job, out db.JobOutcome, inv *db.Inventory) error {
	reg, err := q.registryFor(ctx, job)
	if err != nil {
		return err
	}
	named, err := reference.ParseNormalizedNamed(out.Image)
	if err != nil {
		return fmt.Errorf("image %q: %w", out.Image, err)
	}
	ctx, cancel := context.WithTimeout(ctx, inventoryTimeout)
	defer cancel()
	got, err := q.cfg.Inventory.Inventory(ctx, reg, reference.TrimNamed(named).String()+"@"+out.Digest)
	if err != nil {
		return err
	}
	inv.OK, inv.DistroID, inv.DistroVersion, inv.Packages = true, got.DistroID, got.DistroVersion, got.Packages
	return nil
}
