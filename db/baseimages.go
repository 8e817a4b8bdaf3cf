package db

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// BaseImage is an Image Management entry: a base image offered to specs.
type BaseImage struct {
	ID          int64
	Name        string
	Reference   string
	Description string
	PullSecret  string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// ListBaseImages returns every entry by name.
func (d *DB) ListBaseImages(ctx context.Context) ([]BaseImage, error) {
	rows, err := d.read.QueryContext(ctx, `SELECT id, name, reference, description, pull_secret, created_at, updated_at FROM base_images ORDER BY name, reference`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []BaseImage
	for rows.Next() {
		var b BaseImage
		var created, updated int64
		if err := rows.Scan(&b.ID, &b.Name, &b.Reference, &b.Description, &b.PullSecret, &created, &updated); err != nil {
			return nil, err
		}
		b.CreatedAt, b.UpdatedAt = time.UnixMilli(created), time.UnixMilli(updated)
		out = append(out, b)
	}
	return out, rows.Err()
}

// GetBaseImage returns one entry.
func (d *DB) GetBaseImage(ctx context.Context, id int64) (BaseImage, error) {
	var b BaseImage
	var created, updated int64
	err := d.read.QueryRowContext(ctx, `SELECT id, name, reference, description, pull_secret, created_at, updated_at FROM base_images WHERE id = ?`, id).
		Scan(&b.ID, &b.Name, &b.Reference, &b.Description, &b.PullSecret, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return BaseImage{}, notFound("base image %d does not exist", id)
	}
	b.CreatedAt, b.UpdatedAt = time.UnixMilli(created), time.UnixMilli(updated)
	return b, err
}

// BaseImagePullSecret returns the pull secret named by the Image Management
// entry for reference ("" when there is no entry or no secret).
func (d *DB) BaseImagePullSecret(ctx context.Context, reference string) (string, error) {
	var name string
	err := d.read.QueryRowContext(ctx, `SELECT pull_secret FROM base_images WHERE reference = ?`, reference).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return name, err
}

// SaveBaseImage adds an entry (ID 0) or updates one; the reference is unique.
func (d *DB) SaveBaseImage(ctx context.Context, b BaseImage) (BaseImage, error) {
	now := ms(d.now())
	var err error
	if b.ID == 0 {
		var res sql.Result
		res, err = d.execAudited(ctx, AuditEvent{Action: ActionBaseImageSave, Target: b.Reference, Detail: Describe("added as %s", b.Name)},
			`INSERT INTO base_images (name, reference, description, pull_secret, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
			b.Name, b.Reference, b.Description, b.PullSecret, now, now)
		if err == nil {
			b.ID, _ = res.LastInsertId()
		}
	} else {
		var res sql.Result
		res, err = d.execAudited(ctx, AuditEvent{Action: ActionBaseImageSave, Target: b.Reference, Detail: Describe("edited, named %s", b.Name)},
			`UPDATE base_images SET name = ?, reference = ?, description = ?, pull_secret = ?, updated_at = ? WHERE id = ?`,
			b.Name, b.Reference, b.Description, b.PullSecret, now, b.ID)
		if err == nil {
			if n, _ := res.RowsAffected(); n == 0 {
				return BaseImage{}, notFound("base image %d does not exist", b.ID)
			}
		}
	}
	if isUniqueViolation(err) {
		return BaseImage{}, conflict("%s is already in Image Management", b.Reference)
	}
	if err != nil {
		return BaseImage{}, err
	}
	return d.GetBaseImage(ctx, b.ID)
}

// UpsertBaseImageByReference adds or refreshes the entry for a reference
// (used when make setup imports its base images).
func (d *DB) UpsertBaseImageByReference(ctx context.Context, b BaseImage) error {
	now := ms(d.now())
	_, err := d.write.ExecContext(ctx, `INSERT INTO base_images (name, reference, description, pull_secret, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT(reference) DO UPDATE SET name = excluded.name, description = excluded.description, updated_at = excluded.updated_at`,
		b.Name, b.Reference, b.Description, b.PullSecret, now, now)
	return err
}

// DeleteBaseImage removes an entry.
func (d *DB) DeleteBaseImage(ctx context.Context, id int64) error {
	var ref string
	if err := d.read.QueryRowContext(ctx, `SELECT reference FROM base_images WHERE id = ?`, id).Scan(&ref); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	res, err := d.execAudited(ctx, AuditEvent{Action: ActionBaseImageDelete, Target: ref}, `DELETE FROM base_images WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("base image %d does not exist", id)
	}
	return nil
}
