package db

// Specs: create, update, list and delete.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"imagebuilder/db/failure"
)

// CreateSpec stores a new spec and enqueues its first build job (revision 1)
// in one transaction. registry is where the job will push.
func (d *DB) CreateSpec(ctx context.Context, spec ImageSpec, registry string) (Spec, Job, error) {
	res, err := d.SaveSpec(ctx, Edit{Spec: spec, Create: true}, registry)
	return res.Spec, res.Job, err
}

// UpdateSpec saves a confirmed edit (the name cannot change) and enqueues a
// build job with the next revision, in one transaction. Older jobs of the
// spec that have not started are cancelled as superseded; a running one
// finishes.
func (d *DB) UpdateSpec(ctx context.Context, spec ImageSpec, registry string) (Spec, Job, error) {
	tx, err := d.write.BeginTx(ctx, nil)
	if err != nil {
		return Spec{}, Job{}, err
	}
	defer tx.Rollback()
	res, err := d.updateIn(ctx, tx, Edit{Spec: spec}, registry, d.now(), true)
	if err != nil {
		return Spec{}, Job{}, err
	}
	return res.Spec, res.Job, tx.Commit()
}

// insertJob adds a Pending job with the spec's next revision and cancels
// the spec's older Pending jobs as superseded.
func (d *DB) insertJob(ctx context.Context, tx *sql.Tx, specID int64, snapshot ImageSpec, registry string, retryOf int64, now time.Time) (Job, error) {
	var rev int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(revision), 0) + 1 FROM jobs WHERE spec_id = ?`, specID).Scan(&rev); err != nil {
		return Job{}, err
	}
	snap, _ := json.Marshal(snapshot) // ImageSpec always marshals
	var retry sql.NullInt64
	if retryOf != 0 {
		retry = sql.NullInt64{Int64: retryOf, Valid: true}
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO jobs (spec_id, revision, snapshot, status, registry, retry_of, queued_at, updated_at, requested_by)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, specID, rev, string(snap), StatusPending, registry, retry, ms(now), ms(now), ActorOf(ctx))
	if err != nil {
		return Job{}, err
	}
	id, _ := res.LastInsertId()
	superseded := failureColumns(failure.New(failure.Superseded, fmt.Sprintf("superseded by revision %d", rev), fmt.Sprint(rev)))
	cancelled, err := tx.QueryContext(ctx, `UPDATE jobs SET status = ?, error = ?, finished_at = ?, updated_at = ?, reason = ?, reason_args = ?, reason_lines = ?
		WHERE spec_id = ? AND status = ? AND id < ? RETURNING id`,
		StatusCancelled, superseded.message, ms(now), ms(now), superseded.reason, superseded.args, superseded.lines,
		specID, StatusPending, id)
	if err != nil {
		return Job{}, err
	}
	var ended []int64
	for cancelled.Next() {
		var e int64
		if err := cancelled.Scan(&e); err != nil {
			cancelled.Close()
			return Job{}, err
		}
		ended = append(ended, e)
	}
	if err := cancelled.Close(); err != nil {
		return Job{}, err
	}
	for _, e := range ended {
		j, err := jobIn(ctx, tx, e)
		if err != nil {
			return Job{}, err
		}
		if err := d.enqueueJobEnd(ctx, tx, j); err != nil {
			return Job{}, err
		}
	}
	return Job{ID: id, SpecID: specID, SpecName: snapshot.Name, Revision: rev, Snapshot: snapshot, Status: StatusPending,
		Registry: registry, RetryOf: retryOf, QueuedAt: time.UnixMilli(ms(now)), UpdatedAt: time.UnixMilli(ms(now)), RequestedBy: ActorOf(ctx)}, nil
}

// GetSpec returns the spec called name.
func (d *DB) GetSpec(ctx context.Context, name string) (Spec, error) {
	s, err := scanSpec(d.read.QueryRowContext(ctx, `SELECT `+specColumns+` FROM specs WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Spec{}, notFound("image spec %q does not exist", name)
	}
	return s, err
}

// specColumns are what scanSpec reads.
const specColumns = `id, name, base_image, pull_secret, apt, conda, pip, created_at, updated_at, active_job, alias_tag, alias_digest`

func scanSpec(row interface{ Scan(...any) error }) (Spec, error) {
	var s Spec
	var apt, conda, pip string
	var created, updated int64
	if err := row.Scan(&s.ID, &s.Name, &s.BaseImage, &s.PullSecret, &apt, &conda, &pip, &created, &updated, &s.ActiveJob, &s.AliasTag, &s.AliasDigest); err != nil {
		return Spec{}, err
	}
	s.APT, s.Conda, s.Pip = decodeList(apt), decodeList(conda), decodeList(pip)
	s.CreatedAt, s.UpdatedAt = time.UnixMilli(created), time.UnixMilli(updated)
	return s, nil
}

// ListSpecs returns every spec with its latest job's status and the image
// of its latest succeeded job, by name.
func (d *DB) ListSpecs(ctx context.Context) ([]SpecSummary, error) {
	page, err := d.ListSpecsPage(ctx, SpecFilter{})
	return page.Specs, err
}

// SpecFilter selects a page of the Image Builder list.
type SpecFilter struct {
	// Query keeps the specs whose name contains it ("" keeps all).
	Query string
	// Status keeps the specs whose latest job has it; "none" keeps those
	// never built; "" keeps all.
	Status string
	// Limit is the page size (0: no limit); Offset skips that many.
	Limit, Offset int
}

// SpecPage is one page of the list and how many specs match in all.
type SpecPage struct {
	Specs []SpecSummary
	Total int
}

// ListSpecsPage returns the specs that match f, by name, with their latest
// job's status and the image of their active revision.
func (d *DB) ListSpecsPage(ctx context.Context, f SpecFilter) (SpecPage, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	like := "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(f.Query) + "%"
	rows, err := d.read.QueryContext(ctx, `
		WITH picked AS (
			SELECT s.id, s.name, s.base_image, s.updated_at,
			       (SELECT id FROM jobs WHERE spec_id = s.id ORDER BY id DESC LIMIT 1) AS latest_id,
			       `+activeJobSQL+` AS ok_id, s.active_job, s.base_update
			FROM specs s WHERE s.name LIKE ? ESCAPE '\'
		)
		SELECT p.name, p.base_image, p.updated_at, p.base_update != '',
		       COALESCE(l.id, 0), COALESCE(l.revision, 0), COALESCE(l.status, ''),
		       COALESCE(l.error, ''), COALESCE(l.reason, ''), COALESCE(l.reason_args, '[]'), COALESCE(l.reason_lines, '[]'),
		       COALESCE(ok.image, ''), COALESCE(ok.digest, ''), COALESCE(ok.revision, 0), p.active_job != 0 AND p.active_job = ok.id, COUNT(*) OVER ()
		FROM picked p
		LEFT JOIN jobs l  ON l.id  = p.latest_id
		LEFT JOIN jobs ok ON ok.id = p.ok_id
		WHERE ? = '' OR COALESCE(l.status, 'none') = ?
		ORDER BY p.name LIMIT ? OFFSET ?`, like, f.Status, f.Status, limit, max(f.Offset, 0))
	if err != nil {
		return SpecPage{}, fmt.Errorf("list specs: %w", err)
	}
	defer rows.Close()
	var page SpecPage
	for rows.Next() {
		var s SpecSummary
		var updated int64
		var status string
		var fc failureCols
		if err := rows.Scan(&s.Name, &s.BaseImage, &updated, &s.BaseUpdated, &s.LatestJobID, &s.LatestRevision, &status,
			&fc.message, &fc.reason, &fc.args, &fc.lines, &s.Image, &s.Digest, &s.ActiveRevision, &s.Pinned, &page.Total); err != nil {
			return SpecPage{}, fmt.Errorf("list specs: %w", err)
		}
		s.UpdatedAt, s.Status, s.Failure = time.UnixMilli(updated), Status(status), fc.failure()
		page.Specs = append(page.Specs, s)
	}
	if err := rows.Err(); err != nil {
		return SpecPage{}, fmt.Errorf("list specs: %w", err)
	}
	if len(page.Specs) == 0 && f.Offset > 0 {
		// Past the end: the count still says how many match.
		err := d.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM specs s
			LEFT JOIN jobs l ON l.id = (SELECT id FROM jobs WHERE spec_id = s.id ORDER BY id DESC LIMIT 1)
			WHERE s.name LIKE ? ESCAPE '\' AND (? = '' OR COALESCE(l.status, 'none') = ?)`, like, f.Status, f.Status).Scan(&page.Total)
		if err != nil {
			return SpecPage{}, fmt.Errorf("count specs: %w", err)
		}
	}
	return page, nil
}

// CountSpecs says how many specs exist.
func (d *DB) CountSpecs(ctx context.Context) (int, error) {
	var n int
	if err := d.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM specs`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count specs: %w", err)
	}
	return n, nil
}

// DeleteSpec removes a spec and all its jobs. The caller cancels unfinished
// jobs first; DeleteSpec refuses while any job is still Building.
func (d *DB) DeleteSpec(ctx context.Context, name string) error {
	tx, err := d.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var id int64
	if err := tx.QueryRowContext(ctx, `SELECT id FROM specs WHERE name = ?`, name).Scan(&id); errors.Is(err, sql.ErrNoRows) {
		return notFound("image spec %q does not exist", name)
	} else if err != nil {
		return err
	}
	var building int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE spec_id = ? AND status = ?`, id, StatusBuilding).Scan(&building); err != nil {
		return err
	}
	if building > 0 {
		return conflict("image spec %q still has a build running; cancel it first", name)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM specs WHERE id = ?`, id); err != nil {
		return err
	}
	if err := d.audit(ctx, tx, ActorOf(ctx), ActionDelete, name, 0, 0); err != nil {
		return err
	}
	return tx.Commit()
}
