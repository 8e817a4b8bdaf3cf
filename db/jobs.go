package db

// Build jobs: their revisions, the claim, outcomes and enqueueing again.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"imagebuilder/db/failure"
)

const jobColumns = `j.id, j.spec_id, s.name, j.revision, j.snapshot, j.status, j.registry, j.image, j.digest, j.size, j.error,
	COALESCE(j.retry_of, 0), j.queued_at, j.started_at, j.finished_at, j.updated_at, j.requested_by, j.cancelled_by,
	j.reason, j.reason_args, j.reason_lines, j.sources, j.apt_steps, j.content_key, j.reused_from, j.no_reuse, j.base_digest, j.log_removed, j.activate_on_success`

type scanner interface{ Scan(...any) error }

func scanJob(r scanner) (Job, error) {
	var j Job
	var snap, status, aptSteps string
	var fc failureCols
	var queued, updated int64
	var started, finished sql.NullInt64
	if err := r.Scan(&j.ID, &j.SpecID, &j.SpecName, &j.Revision, &snap, &status, &j.Registry, &j.Image, &j.Digest, &j.Size, &fc.message,
		&j.RetryOf, &queued, &started, &finished, &updated, &j.RequestedBy, &j.CancelledBy, &fc.reason, &fc.args, &fc.lines, &j.Sources, &aptSteps, &j.ContentKey, &j.ReusedFrom, &j.NoReuse, &j.BaseDigest, &j.LogRemoved, &j.ActivateOnSuccess); err != nil {
		return Job{}, err
	}
	_ = json.Unmarshal([]byte(snap), &j.Snapshot)
	j.Failure = fc.failure()
	_ = json.Unmarshal([]byte(aptSteps), &j.APTSteps)
	j.Status = Status(status)
	j.QueuedAt, j.UpdatedAt = time.UnixMilli(queued), time.UnixMilli(updated)
	j.StartedAt, j.FinishedAt = fromMS(started), fromMS(finished)
	return j, nil
}

// SetJobPlan records how a job builds: the package sources it uses (JSON,
// without credentials; "" for none) and its APT steps.
func (d *DB) SetJobPlan(ctx context.Context, id int64, sources string, aptSteps [][]string) error {
	steps, err := json.Marshal(aptSteps)
	if err != nil {
		return err
	}
	if aptSteps == nil {
		steps = []byte("[]")
	}
	if _, err := d.write.ExecContext(ctx, `UPDATE jobs SET sources = ?, apt_steps = ? WHERE id = ?`, sources, string(steps), id); err != nil {
		return fmt.Errorf("record the build plan of job %d: %w", id, err)
	}
	return nil
}

// SetJobContentKey records what a job builds (see spec.ContentKey) and
// the digest its base image had then.
func (d *DB) SetJobContentKey(ctx context.Context, id int64, key, baseDigest string) error {
	if _, err := d.write.ExecContext(ctx, `UPDATE jobs SET content_key = ?, base_digest = ? WHERE id = ?`, key, baseDigest, id); err != nil {
		return fmt.Errorf("record the content key of job %d: %w", id, err)
	}
	return nil
}

// SetJobReusedFrom records that a job reused the image of job from.
func (d *DB) SetJobReusedFrom(ctx context.Context, id, from int64) error {
	if _, err := d.write.ExecContext(ctx, `UPDATE jobs SET reused_from = ? WHERE id = ?`, from, id); err != nil {
		return fmt.Errorf("record what job %d reused: %w", id, err)
	}
	return nil
}

// SucceededJobWithKey is the spec's newest succeeded job before job id
// before that built (or reused) the content key; ok is false for none.
func (d *DB) SucceededJobWithKey(ctx context.Context, specName, key string, before int64) (job Job, ok bool, err error) {
	job, err = scanJob(d.read.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs j JOIN specs s ON s.id = j.spec_id
		WHERE s.name = ? AND j.content_key = ? AND j.status = ? AND j.id < ? ORDER BY j.id DESC LIMIT 1`, specName, key, StatusSucceeded, before))
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, false, nil
	}
	if err != nil {
		return Job{}, false, fmt.Errorf("a succeeded job of %s with the same content: %w", specName, err)
	}
	return job, true, nil
}

// LastSucceededJob is the spec's newest succeeded job before job id
// before (0: any); ok is false when there is none.
func (d *DB) LastSucceededJob(ctx context.Context, specName string, before int64) (job Job, ok bool, err error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	job, err = scanJob(d.read.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs j JOIN specs s ON s.id = j.spec_id
		WHERE s.name = ? AND j.status = ? AND j.id < ? ORDER BY j.id DESC LIMIT 1`, specName, StatusSucceeded, before))
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, false, nil
	}
	if err != nil {
		return Job{}, false, fmt.Errorf("last succeeded job of %s: %w", specName, err)
	}
	return job, true, nil
}

// GetJob returns one job.
func (d *DB) GetJob(ctx context.Context, id int64) (Job, error) {
	j, err := scanJob(d.read.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs j JOIN specs s ON s.id = j.spec_id WHERE j.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, notFound("build job %d does not exist", id)
	}
	return j, err
}

// ListJobs returns the jobs of a spec, newest first.
func (d *DB) ListJobs(ctx context.Context, specName string) ([]Job, error) {
	return d.queryJobs(ctx, d.read, `SELECT `+jobColumns+` FROM jobs j JOIN specs s ON s.id = j.spec_id WHERE s.name = ? ORDER BY j.id DESC`, specName)
}

// JobsWithStatus returns every job in one status, oldest first.
func (d *DB) JobsWithStatus(ctx context.Context, status Status) ([]Job, error) {
	return d.queryJobs(ctx, d.read, `SELECT `+jobColumns+` FROM jobs j JOIN specs s ON s.id = j.spec_id WHERE j.status = ? ORDER BY j.id`, status)
}

type querier interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}

func (d *DB) queryJobs(ctx context.Context, q querier, query string, args ...any) ([]Job, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// ClaimNextJob moves the oldest Pending job to Building and returns it;
// ok is false when no job is pending.
func (d *DB) ClaimNextJob(ctx context.Context) (job Job, ok bool, err error) {
	tx, err := d.write.BeginTx(ctx, nil)
	if err != nil {
		return Job{}, false, err
	}
	defer tx.Rollback()
	job, err = scanJob(tx.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs j JOIN specs s ON s.id = j.spec_id
		WHERE j.status = ? ORDER BY j.id LIMIT 1`, StatusPending))
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, false, nil
	}
	if err != nil {
		return Job{}, false, err
	}
	now := d.now()
	if _, err := tx.ExecContext(ctx, `UPDATE jobs SET status = ?, started_at = ?, updated_at = ? WHERE id = ?`,
		StatusBuilding, ms(now), ms(now), job.ID); err != nil {
		return Job{}, false, err
	}
	if err := tx.Commit(); err != nil {
		return Job{}, false, err
	}
	job.Status, job.StartedAt, job.UpdatedAt = StatusBuilding, time.UnixMilli(ms(now)), time.UnixMilli(ms(now))
	return job, true, nil
}

// JobOutcome is how a job ended.
type JobOutcome struct {
	Status Status
	Image  string
	Digest string
	Size   int64
	// CancelledBy is the administrator who cancelled the job, if one did.
	CancelledBy string
	// Failure says why it failed or was cancelled (nil when it succeeded).
	Failure *failure.Failure
}

// FinishJob records the end of a job, if its current status allows it.
func (d *DB) FinishJob(ctx context.Context, id int64, out JobOutcome) (Job, error) {
	return d.transition(ctx, id, out.Status, func(tx *sql.Tx, now int64, j Job) error {
		fc := failureColumns(out.Failure)
		_, err := tx.ExecContext(ctx, `UPDATE jobs SET status = ?, image = ?, digest = ?, size = ?, error = ?, finished_at = ?, updated_at = ?, cancelled_by = ?,
			reason = ?, reason_args = ?, reason_lines = ? WHERE id = ?`,
			out.Status, out.Image, out.Digest, out.Size, fc.message, now, now, out.CancelledBy, fc.reason, fc.args, fc.lines, id)
		if err != nil || out.Status != StatusCancelled {
			return err
		}
		return d.audit(ctx, tx, out.CancelledBy, ActionCancel, j.SpecName, j.ID, j.Revision)
	})
}

// CancelPendingJob cancels a job that has not started, for why; a job that
// has started is a conflict (its worker must stop it).
func (d *DB) CancelPendingJob(ctx context.Context, id int64, why *failure.Failure) (Job, error) {
	return d.transition(ctx, id, StatusCancelled, func(tx *sql.Tx, now int64, j Job) error {
		fc := failureColumns(why)
		res, err := tx.ExecContext(ctx, `UPDATE jobs SET status = ?, error = ?, finished_at = ?, updated_at = ?, cancelled_by = ?,
			reason = ?, reason_args = ?, reason_lines = ? WHERE id = ? AND status = ?`,
			StatusCancelled, fc.message, now, now, ActorOf(ctx), fc.reason, fc.args, fc.lines, id, StatusPending)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return conflict("build job %d has already started", id)
		}
		return d.audit(ctx, tx, ActorOf(ctx), ActionCancel, j.SpecName, j.ID, j.Revision)
	})
}

// jobIn reads job id inside tx.
func jobIn(ctx context.Context, tx *sql.Tx, id int64) (Job, error) {
	return scanJob(tx.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs j JOIN specs s ON s.id = j.spec_id WHERE j.id = ?`, id))
}

// transition checks the status change with CanTransition inside the
// transaction, applies it and returns the updated job.
func (d *DB) transition(ctx context.Context, id int64, to Status, apply func(tx *sql.Tx, now int64, before Job) error) (Job, error) {
	tx, err := d.write.BeginTx(ctx, nil)
	if err != nil {
		return Job{}, err
	}
	defer tx.Rollback()
	before, err := jobIn(ctx, tx, id)
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, notFound("build job %d does not exist", id)
	} else if err != nil {
		return Job{}, err
	}
	if from := before.Status; !CanTransition(from, to) {
		return Job{}, conflict("build job %d is %s and cannot become %s", id, from, to)
	}
	if err := apply(tx, ms(d.now()), before); err != nil {
		return Job{}, err
	}
	j, err := jobIn(ctx, tx, id)
	if err != nil {
		return Job{}, err
	}
	if err := d.enqueueJobEnd(ctx, tx, j); err != nil {
		return Job{}, err
	}
	return j, tx.Commit()
}

// RetryJob enqueues a new job (the spec's next revision) that builds the
// same snapshot as a failed or cancelled job. Only the spec's latest job can
// be retried, so a retry never rolls a spec back to older content.
func (d *DB) RetryJob(ctx context.Context, id int64, registry string) (Job, error) {
	return d.enqueueAgain(ctx, id, registry, ActionRetry)
}

// RebuildJob enqueues a new job (the spec's next revision) that builds the
// same snapshot as a succeeded job, of any revision; the spec takes that
// snapshot's content again, since its latest revision now builds it.
func (d *DB) RebuildJob(ctx context.Context, id int64, registry string) (Job, error) {
	return d.enqueueAgain(ctx, id, registry, ActionRebuild)
}

func (d *DB) enqueueAgain(ctx context.Context, id int64, registry, action string) (Job, error) {
	tx, err := d.write.BeginTx(ctx, nil)
	if err != nil {
		return Job{}, err
	}
	defer tx.Rollback()
	old, err := jobIn(ctx, tx, id)
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, notFound("build job %d does not exist", id)
	}
	if err != nil {
		return Job{}, err
	}
	switch action {
	case ActionRetry:
		if old.Status != StatusFailed && old.Status != StatusCancelled {
			return Job{}, conflict("revision %d is %s; only failed or cancelled builds can be retried", old.Revision, old.Status)
		}
		var latest int64
		if err := tx.QueryRowContext(ctx, `SELECT MAX(id) FROM jobs WHERE spec_id = ?`, old.SpecID).Scan(&latest); err != nil {
			return Job{}, err
		}
		if latest != old.ID {
			return Job{}, conflict("revision %d is not the latest build of %q; retry the latest one or edit the spec", old.Revision, old.SpecName)
		}
	case ActionRebuild:
		if old.Status != StatusSucceeded {
			return Job{}, conflict("revision %d is %s; only succeeded revisions can be rebuilt", old.Revision, old.Status)
		}
		sp := old.Snapshot
		if _, err := tx.ExecContext(ctx, `UPDATE specs SET base_image = ?, pull_secret = ?, apt = ?, conda = ?, pip = ?, updated_at = ? WHERE id = ?`,
			sp.BaseImage, sp.PullSecret, encodeList(sp.APT), encodeList(sp.Conda), encodeList(sp.Pip), ms(d.now()), old.SpecID); err != nil {
			return Job{}, err
		}
	}
	job, err := d.insertJob(ctx, tx, old.SpecID, old.Snapshot, registry, old.ID, d.now())
	if err != nil {
		return Job{}, err
	}
	if action == ActionRebuild {
		// A rebuild builds, even when an image of the same content exists.
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET no_reuse = 1 WHERE id = ?`, job.ID); err != nil {
			return Job{}, err
		}
		job.NoReuse = true
	}
	if err := d.audit(ctx, tx, ActorOf(ctx), action, old.SpecName, job.ID, job.Revision); err != nil {
		return Job{}, err
	}
	return job, tx.Commit()
}
