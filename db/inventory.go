package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Package is one package installed in an image.
type Package struct {
	Type    string `json:"type"` // deb, python, conda
	Name    string `json:"name"`
	Version string `json:"version"`
	// Arch is a Debian package's architecture (a Conda package's subdir).
	Arch string `json:"arch,omitempty"`
	// Build and Channel are a Conda package's build string and channel.
	Build   string `json:"build,omitempty"`
	Channel string `json:"channel,omitempty"`
	// Location is where the package's record is in the image.
	Location string `json:"location,omitempty"`
}

// Inventory is what a succeeded job's image holds, or why that is unknown.
type Inventory struct {
	JobID int64
	// OK is false when the image could not be read; Error says why.
	OK                      bool
	Error                   string
	DistroID, DistroVersion string
	ScannedAt               time.Time
	Duration                time.Duration
	// CopiedFrom is the job whose inventory this is (a reused image).
	CopiedFrom int64
	// AgainstJob is the previous succeeded revision it was compared with
	// (0: none), of revision AgainstRevision, with the counts of packages
	// added, removed and changed since.
	AgainstJob              int64
	AgainstRevision         int
	Added, Removed, Changed int
	Packages                []Package
}

const inventoryColumns = `i.job_id, i.ok, i.error, i.distro_id, i.distro_version, i.scanned_at, i.duration_ms, i.copied_from,
	i.against_job, COALESCE(a.revision, 0), i.added, i.removed, i.changed`

func scanInventory(r scanner) (Inventory, error) {
	var inv Inventory
	var scanned, dur int64
	err := r.Scan(&inv.JobID, &inv.OK, &inv.Error, &inv.DistroID, &inv.DistroVersion, &scanned, &dur, &inv.CopiedFrom,
		&inv.AgainstJob, &inv.AgainstRevision, &inv.Added, &inv.Removed, &inv.Changed)
	inv.ScannedAt, inv.Duration = time.UnixMilli(scanned), time.Duration(dur)*time.Millisecond
	return inv, err
}

// SaveInventory records a job's inventory (replacing any earlier one).
func (d *DB) SaveInventory(ctx context.Context, inv Inventory) error {
	tx, err := d.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM inventories WHERE job_id = ?`, inv.JobID); err != nil {
		return fmt.Errorf("record the inventory of job %d: %w", inv.JobID, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO inventories (job_id, ok, error, distro_id, distro_version, scanned_at, duration_ms, copied_from,
		against_job, added, removed, changed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		inv.JobID, inv.OK, inv.Error, inv.DistroID, inv.DistroVersion, ms(inv.ScannedAt), inv.Duration.Milliseconds(), inv.CopiedFrom,
		inv.AgainstJob, inv.Added, inv.Removed, inv.Changed); err != nil {
		return fmt.Errorf("record the inventory of job %d: %w", inv.JobID, err)
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO inventory_packages (job_id, type, name, version, arch, build, channel, location) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, p := range inv.Packages {
		if _, err := stmt.ExecContext(ctx, inv.JobID, p.Type, p.Name, p.Version, p.Arch, p.Build, p.Channel, p.Location); err != nil {
			return fmt.Errorf("record the inventory of job %d: %w", inv.JobID, err)
		}
	}
	return tx.Commit()
}

// GetInventory is a job's inventory with its packages, in the order they
// were recorded; ok is false when none was recorded.
func (d *DB) GetInventory(ctx context.Context, jobID int64) (inv Inventory, ok bool, err error) {
	inv, err = scanInventory(d.read.QueryRowContext(ctx, `SELECT `+inventoryColumns+` FROM inventories i
		LEFT JOIN jobs a ON a.id = i.against_job WHERE i.job_id = ?`, jobID))
	if errors.Is(err, sql.ErrNoRows) {
		return Inventory{}, false, nil
	}
	if err != nil {
		return Inventory{}, false, fmt.Errorf("the inventory of job %d: %w", jobID, err)
	}
	rows, err := d.read.QueryContext(ctx, `SELECT type, name, version, arch, build, channel, location FROM inventory_packages WHERE job_id = ? ORDER BY rowid`, jobID)
	if err != nil {
		return Inventory{}, false, fmt.Errorf("the packages of job %d: %w", jobID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var p Package
		if err := rows.Scan(&p.Type, &p.Name, &p.Version, &p.Arch, &p.Build, &p.Channel, &p.Location); err != nil {
			return Inventory{}, false, err
		}
		inv.Packages = append(inv.Packages, p)
	}
	return inv, true, rows.Err()
}

// Inventories are the inventories of a spec's jobs, without their
// packages, by job id.
func (d *DB) Inventories(ctx context.Context, specName string) (map[int64]Inventory, error) {
	rows, err := d.read.QueryContext(ctx, `SELECT `+inventoryColumns+` FROM inventories i JOIN jobs j ON j.id = i.job_id
		JOIN specs s ON s.id = j.spec_id LEFT JOIN jobs a ON a.id = i.against_job WHERE s.name = ?`, specName)
	if err != nil {
		return nil, fmt.Errorf("the inventories of %s: %w", specName, err)
	}
	defer rows.Close()
	out := map[int64]Inventory{}
	for rows.Next() {
		inv, err := scanInventory(rows)
		if err != nil {
			return nil, err
		}
		out[inv.JobID] = inv
	}
	return out, rows.Err()
}

// PreviousInventoried is the spec's newest succeeded job before job id
// before whose image was read; ok is false when there is none.
func (d *DB) PreviousInventoried(ctx context.Context, specName string, before int64) (job Job, ok bool, err error) {
	job, err = scanJob(d.read.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs j JOIN specs s ON s.id = j.spec_id
		JOIN inventories i ON i.job_id = j.id AND i.ok = 1
		WHERE s.name = ? AND j.status = ? AND j.id < ? ORDER BY j.id DESC LIMIT 1`, specName, StatusSucceeded, before))
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, false, nil
	}
	if err != nil {
		return Job{}, false, fmt.Errorf("the previous inventoried revision of %s: %w", specName, err)
	}
	return job, true, nil
}
