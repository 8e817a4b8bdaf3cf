package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Retention says what a spec's history keeps; 0 keeps everything.
type Retention struct {
	// KeepSucceeded and KeepFailed are how many succeeded, and failed or
	// cancelled, jobs are kept (the newest).
	KeepSucceeded int `json:"keepSucceeded"`
	KeepFailed    int `json:"keepFailed"`
	// LogDays is how long a finished job's log is kept.
	LogDays int `json:"logDays"`
}

// Detail says what r keeps, for the audit log.
func (r Retention) Detail() Detail {
	return Describe("keep %s succeeded and %s failed or cancelled jobs, logs for %s days", r.KeepSucceeded, r.KeepFailed, r.LogDays)
}

// SpecRetention is a spec's own retention, or nil when it follows the
// global default.
func (d *DB) SpecRetention(ctx context.Context, name string) (*Retention, error) {
	var s, f, l sql.NullInt64
	err := d.read.QueryRowContext(ctx, `SELECT keep_succeeded, keep_failed, log_days FROM specs WHERE name = ?`, name).Scan(&s, &f, &l)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("image spec %q does not exist", name)
	}
	if err != nil || !s.Valid {
		return nil, err
	}
	return &Retention{KeepSucceeded: int(s.Int64), KeepFailed: int(f.Int64), LogDays: int(l.Int64)}, nil
}

// SetSpecRetention gives a spec its own retention, or with nil makes it
// follow the global default.
func (d *DB) SetSpecRetention(ctx context.Context, name string, r *Retention) error {
	var s, f, l any
	if r != nil {
		s, f, l = r.KeepSucceeded, r.KeepFailed, r.LogDays
	}
	detail := Describe("follows the default")
	if r != nil {
		detail = r.Detail()
	}
	res, err := d.execAudited(ctx, AuditEvent{Action: ActionSpecRetention, Spec: name, Detail: detail},
		`UPDATE specs SET keep_succeeded = ?, keep_failed = ?, log_days = ? WHERE name = ?`, s, f, l, name)
	if err != nil {
		return fmt.Errorf("set the retention of %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("image spec %q does not exist", name)
	}
	return nil
}

// SpecNames lists every spec's name.
func (d *DB) SpecNames(ctx context.Context) ([]string, error) {
	rows, err := d.read.QueryContext(ctx, `SELECT name FROM specs ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// DeleteJobs removes finished jobs (with their inventories); a job that
// has not finished is left alone.
func (d *DB) DeleteJobs(ctx context.Context, ids []int64) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	args := make([]any, 0, len(ids)+3)
	for _, id := range ids {
		args = append(args, id)
	}
	args = append(args, StatusSucceeded, StatusFailed, StatusCancelled)
	res, err := d.write.ExecContext(ctx, `DELETE FROM jobs WHERE id IN (?`+strings.Repeat(",?", len(ids)-1)+`) AND status IN (?, ?, ?)`, args...)
	if err != nil {
		return 0, fmt.Errorf("delete %d jobs: %w", len(ids), err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// MarkLogRemoved records that a job's log was removed by retention.
func (d *DB) MarkLogRemoved(ctx context.Context, id int64) error {
	if _, err := d.write.ExecContext(ctx, `UPDATE jobs SET log_removed = 1 WHERE id = ?`, id); err != nil {
		return fmt.Errorf("record the removed log of job %d: %w", id, err)
	}
	return nil
}

// HousekeepingRun is one run of retention and garbage collection.
type HousekeepingRun struct {
	ID                  int64
	StartedAt, Finished time.Time
	Trigger             string
	JobsDeleted         int
	LogsDeleted         int
	TagsDeleted         int
	BlobsDeleted        int
	RegistryFreed       int64
	LogsFreed           int64
	StorageFreed        int64
	Error               string
}

// RecordHousekeeping stores a run.
func (d *DB) RecordHousekeeping(ctx context.Context, r HousekeepingRun) error {
	// A run an administrator asked for is theirs (the scheduled ones are
	// the system's and have no actor).
	_, err := d.execAudited(ctx, AuditEvent{Action: ActionHousekeeping, Detail: Describe("deleted: jobs %s, revision tags %s, logs %s; freed: registry blobs %s",
		r.JobsDeleted, r.TagsDeleted, r.LogsDeleted, r.BlobsDeleted)},
		`INSERT INTO housekeeping_runs (started_at, finished_at, trigger, jobs_deleted, logs_deleted, tags_deleted,
		blobs_deleted, registry_freed, logs_freed, storage_freed, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ms(r.StartedAt), ms(r.Finished), r.Trigger, r.JobsDeleted, r.LogsDeleted, r.TagsDeleted, r.BlobsDeleted, r.RegistryFreed, r.LogsFreed, r.StorageFreed, r.Error)
	if err != nil {
		return fmt.Errorf("record a housekeeping run: %w", err)
	}
	return nil
}

// HousekeepingRuns are the newest runs, newest first.
func (d *DB) HousekeepingRuns(ctx context.Context, limit int) ([]HousekeepingRun, error) {
	rows, err := d.read.QueryContext(ctx, `SELECT id, started_at, finished_at, trigger, jobs_deleted, logs_deleted, tags_deleted, blobs_deleted,
		registry_freed, logs_freed, storage_freed, error FROM housekeeping_runs ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("list housekeeping runs: %w", err)
	}
	defer rows.Close()
	var out []HousekeepingRun
	for rows.Next() {
		var r HousekeepingRun
		var started, finished int64
		if err := rows.Scan(&r.ID, &started, &finished, &r.Trigger, &r.JobsDeleted, &r.LogsDeleted, &r.TagsDeleted, &r.BlobsDeleted,
			&r.RegistryFreed, &r.LogsFreed, &r.StorageFreed, &r.Error); err != nil {
			return nil, err
		}
		r.StartedAt, r.Finished = time.UnixMilli(started), time.UnixMilli(finished)
		out = append(out, r)
	}
	return out, rows.Err()
}

// SpecSize is how much one spec's images take in the registry.
type SpecSize struct {
	Name string
	// Bytes sums the compressed size of each distinct image the spec's
	// succeeded jobs pushed (layers shared with others counted in each).
	Bytes  int64
	Images int
}

// LargestSpecs are the specs whose images take the most, largest first.
func (d *DB) LargestSpecs(ctx context.Context, limit int) ([]SpecSize, error) {
	rows, err := d.read.QueryContext(ctx, `SELECT s.name, SUM(i.size), COUNT(*) FROM
		(SELECT DISTINCT spec_id, digest, size FROM jobs WHERE status = ? AND digest != '') i
		JOIN specs s ON s.id = i.spec_id GROUP BY s.id ORDER BY SUM(i.size) DESC, s.name LIMIT ?`, StatusSucceeded, limit)
	if err != nil {
		return nil, fmt.Errorf("the largest specs: %w", err)
	}
	defer rows.Close()
	var out []SpecSize
	for rows.Next() {
		var s SpecSize
		if err := rows.Scan(&s.Name, &s.Bytes, &s.Images); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
