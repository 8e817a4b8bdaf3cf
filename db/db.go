package db

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"

	"imagebuilder/db/failure"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is the SQLite store: one writer connection, so writes never fight each
// other, and a pool of readers, so reads never wait for writes (WAL).
type DB struct {
	write  *sql.DB
	read   *sql.DB
	now    func() time.Time
	jobEnd atomic.Pointer[JobEndPayload] // see SetJobEndPayload
}

// Open opens (creating if needed) the database file and applies pending
// migrations in one transaction.
func Open(path string) (*DB, error) {
	params := "_journal_mode=WAL&_busy_timeout=10000&_foreign_keys=on&_synchronous=NORMAL"
	write, err := sql.Open("sqlite3", "file:"+path+"?"+params+"&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	write.SetMaxOpenConns(1)
	read, err := sql.Open("sqlite3", "file:"+path+"?"+params+"&_query_only=true")
	if err != nil {
		write.Close()
		return nil, err
	}
	read.SetMaxOpenConns(4)
	d := &DB{write: write, read: read, now: time.Now}
	if err := d.migrate(); err != nil {
		d.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	return d, nil
}

// Close closes both pools.
func (d *DB) Close() error {
	return errors.Join(d.read.Close(), d.write.Close())
}

func (d *DB) migrate() error {
	tx, err := d.write.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
		return err
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		version, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: name must start with a number", base)
		}
		var n int
		if err := tx.QueryRow(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(string(body)); err != nil {
			return fmt.Errorf("migration %s: %w", base, err)
		}
		if _, err := tx.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`, version, base, d.now().UnixMilli()); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// SchemaVersion is the highest applied migration.
func (d *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := d.read.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMilli(v.Int64)
}

func encodeList(l []string) string {
	if l == nil {
		l = []string{}
	}
	b, _ := json.Marshal(l) // []string always marshals
	return string(b)
}

func decodeList(s string) []string {
	var l []string
	_ = json.Unmarshal([]byte(s), &l)
	if len(l) == 0 {
		return nil
	}
	return l
}

// failureCols are a failure as the jobs table keeps it: error (the
// English message), reason, reason_args and reason_lines (JSON lists).
type failureCols struct{ message, reason, args, lines string }

func failureColumns(f *failure.Failure) failureCols {
	if f == nil {
		return failureCols{args: "[]", lines: "[]"}
	}
	return failureCols{message: f.Message, reason: string(f.Reason), args: encodeList(f.Args), lines: encodeList(f.Lines)}
}

// failure is nil for a job that did not fail (no message, no reason).
func (c failureCols) failure() *failure.Failure {
	if c.message == "" && c.reason == "" {
		return nil
	}
	return &failure.Failure{Reason: failure.Reason(c.reason), Args: decodeList(c.args), Lines: decodeList(c.lines), Message: c.message}
}

func isUniqueViolation(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintUnique
}

// --- Specs -----------------------------------------------------------------

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

// --- Jobs ------------------------------------------------------------------

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

// --- Settings --------------------------------------------------------------

// GetSetting returns a setting's value; ok is false when it is not set.
func (d *DB) GetSetting(ctx context.Context, key string) (value string, ok bool, err error) {
	err = d.read.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&value)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return value, err == nil, err
}

// SetSetting stores a setting; detail says for the audit log what it now
// is (never a secret).
func (d *DB) SetSetting(ctx context.Context, key, value string, detail Detail) error {
	_, err := d.execAudited(ctx, AuditEvent{Action: ActionSettings, Target: key, Detail: detail},
		`INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, value)
	return err
}
