package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Edit is a confirmed create or edit of a spec with the conditions it was
// made under.
type Edit struct {
	Spec ImageSpec
	// Create: the spec must not exist yet; otherwise it must.
	Create bool
	// IfVersion is the Version the edit was made from ("" accepts any).
	IfVersion string
	// Intent is the form's one-time key ("" none): saving again with the
	// same key and content makes no second revision.
	Intent string
}

// SaveResult says what a save did.
type SaveResult struct {
	Spec Spec
	// Job is the build the save started; zero when nothing changed, and
	// the first save's job when Repeated.
	Job Job
	// Changed: the spec's content changed (a job was enqueued).
	Changed bool
	// Repeated: the same intent was saved before with this content;
	// nothing was done again.
	Repeated bool
}

// StaleError refuses an edit made from a version the spec no longer
// holds: Current is what it holds now, and Revision, By and At describe
// its latest revision (who made it and when).
type StaleError struct {
	Current  Spec
	Revision int
	By       string
	At       time.Time
}

func (e *StaleError) Error() string {
	return fmt.Sprintf("image spec %q changed since it was opened (now revision %d)", e.Current.Name, e.Revision)
}

// Unwrap makes a StaleError a conflict.
func (e *StaleError) Unwrap() error { return ErrConflict }

// intentTTL is how long a form's one-time key is remembered.
const intentTTL = 24 * time.Hour

// SaveSpec saves a confirmed create or edit and enqueues its build, in one
// transaction: an edit from a stale version is refused (*StaleError), an
// edit that changes nothing enqueues nothing, and a repeat of an intent
// already saved returns what the first save did.
func (d *DB) SaveSpec(ctx context.Context, e Edit, registry string) (SaveResult, error) {
	tx, err := d.write.BeginTx(ctx, nil)
	if err != nil {
		return SaveResult{}, err
	}
	defer tx.Rollback()
	now := d.now()
	e, repeated, err := d.prepareEdit(ctx, tx, e, now)
	if err != nil || repeated != nil {
		return derefResult(repeated), err
	}
	var res SaveResult
	if e.Create {
		res, err = d.createIn(ctx, tx, e.Spec, registry, now)
	} else {
		res, err = d.updateIn(ctx, tx, e, registry, now, false)
	}
	if err != nil {
		return SaveResult{}, err
	}
	if e.Intent != "" {
		if _, err := tx.ExecContext(ctx, `DELETE FROM form_intents WHERE created_at <= ?`, ms(now.Add(-intentTTL))); err != nil {
			return SaveResult{}, fmt.Errorf("forget old form intents: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO form_intents (token, spec, job_id, version, created_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT(token) DO UPDATE SET job_id = excluded.job_id, version = excluded.version, created_at = excluded.created_at`,
			e.Intent, e.Spec.Name, res.Job.ID, e.Spec.Version(), ms(now)); err != nil {
			return SaveResult{}, fmt.Errorf("record form intent: %w", err)
		}
	}
	return res, tx.Commit()
}

// CheckEdit says, without saving, whether SaveSpec would refuse the edit
// as stale (*StaleError), so a form can say that before anything else.
func (d *DB) CheckEdit(ctx context.Context, e Edit) error {
	tx, err := d.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	_, _, err = d.prepareEdit(ctx, tx, e, d.now())
	return err
}

func derefResult(r *SaveResult) SaveResult {
	if r == nil {
		return SaveResult{}
	}
	return *r
}

// prepareEdit reads what the edit stands on: a repeat of an intent saved
// before answers with what that save did; a form changed after it was
// saved stands on what it saved; an update from a version the spec no
// longer holds is a *StaleError.
func (d *DB) prepareEdit(ctx context.Context, tx *sql.Tx, e Edit, now time.Time) (Edit, *SaveResult, error) {
	if e.Intent != "" {
		var spec, saved string
		var jobID int64
		err := tx.QueryRowContext(ctx, `SELECT spec, job_id, version FROM form_intents WHERE token = ? AND created_at > ?`,
			e.Intent, ms(now.Add(-intentTTL))).Scan(&spec, &jobID, &saved)
		switch {
		case err == nil && spec == e.Spec.Name && saved == e.Spec.Version():
			res, err := d.repeated(ctx, tx, spec, jobID)
			return e, &res, err
		case err == nil && spec == e.Spec.Name:
			// The same form, changed after it was saved (Back, edit,
			// Confirm): it now stands on what it saved.
			e.Create, e.IfVersion = false, saved
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return e, nil, fmt.Errorf("look up form intent: %w", err)
		}
	}
	if e.Create || e.IfVersion == "" {
		return e, nil, nil
	}
	cur, err := scanSpec(tx.QueryRowContext(ctx, `SELECT `+specColumns+` FROM specs WHERE name = ?`, e.Spec.Name))
	if errors.Is(err, sql.ErrNoRows) {
		return e, nil, notFound("image spec %q does not exist", e.Spec.Name)
	}
	if err != nil {
		return e, nil, err
	}
	if cur.Version() == e.IfVersion {
		return e, nil, nil
	}
	stale := &StaleError{Current: cur}
	var at sql.NullInt64
	err = tx.QueryRowContext(ctx, `SELECT revision, requested_by, queued_at FROM jobs WHERE spec_id = ? ORDER BY id DESC LIMIT 1`, cur.ID).
		Scan(&stale.Revision, &stale.By, &at)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return e, nil, err
	}
	stale.At = fromMS(at)
	return e, nil, stale
}

// repeated answers a second save of an intent with what the first did.
func (d *DB) repeated(ctx context.Context, tx *sql.Tx, name string, jobID int64) (SaveResult, error) {
	s, err := scanSpec(tx.QueryRowContext(ctx, `SELECT `+specColumns+` FROM specs WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return SaveResult{}, notFound("image spec %q does not exist", name)
	}
	if err != nil {
		return SaveResult{}, err
	}
	res := SaveResult{Spec: s, Repeated: true}
	if jobID != 0 {
		j, err := scanJob(tx.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs j JOIN specs s ON s.id = j.spec_id WHERE j.id = ?`, jobID))
		if err == nil {
			res.Job = j
		} else if !errors.Is(err, sql.ErrNoRows) {
			return SaveResult{}, err
		}
	}
	return res, nil
}

func (d *DB) createIn(ctx context.Context, tx *sql.Tx, spec ImageSpec, registry string, now time.Time) (SaveResult, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO specs (name, base_image, pull_secret, apt, conda, pip, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		spec.Name, spec.BaseImage, spec.PullSecret, encodeList(spec.APT), encodeList(spec.Conda), encodeList(spec.Pip), ms(now), ms(now))
	if isUniqueViolation(err) {
		return SaveResult{}, conflict("an image spec named %q already exists", spec.Name)
	}
	if err != nil {
		return SaveResult{}, err
	}
	id, _ := res.LastInsertId()
	job, err := d.insertJob(ctx, tx, id, spec, registry, 0, now)
	if err != nil {
		return SaveResult{}, err
	}
	if err := d.audit(ctx, tx, ActorOf(ctx), ActionCreate, spec.Name, job.ID, job.Revision); err != nil {
		return SaveResult{}, err
	}
	at := time.UnixMilli(ms(now))
	return SaveResult{Spec: Spec{ID: id, ImageSpec: spec, CreatedAt: at, UpdatedAt: at}, Job: job, Changed: true}, nil
}

// updateIn saves an edit; always builds even when the content did not
// change (UpdateSpec's contract: an edit is a request to build).
func (d *DB) updateIn(ctx context.Context, tx *sql.Tx, e Edit, registry string, now time.Time, always bool) (SaveResult, error) {
	cur, err := scanSpec(tx.QueryRowContext(ctx, `SELECT `+specColumns+` FROM specs WHERE name = ?`, e.Spec.Name))
	if errors.Is(err, sql.ErrNoRows) {
		return SaveResult{}, notFound("image spec %q does not exist", e.Spec.Name)
	}
	if err != nil {
		return SaveResult{}, err
	}
	if !always && cur.SameContent(e.Spec) {
		return SaveResult{Spec: cur}, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE specs SET base_image = ?, pull_secret = ?, apt = ?, conda = ?, pip = ?, updated_at = ? WHERE id = ?`,
		e.Spec.BaseImage, e.Spec.PullSecret, encodeList(e.Spec.APT), encodeList(e.Spec.Conda), encodeList(e.Spec.Pip), ms(now), cur.ID); err != nil {
		return SaveResult{}, err
	}
	job, err := d.insertJob(ctx, tx, cur.ID, e.Spec, registry, 0, now)
	if err != nil {
		return SaveResult{}, err
	}
	if err := d.audit(ctx, tx, ActorOf(ctx), ActionEdit, e.Spec.Name, job.ID, job.Revision); err != nil {
		return SaveResult{}, err
	}
	return SaveResult{Spec: Spec{ID: cur.ID, ImageSpec: e.Spec, CreatedAt: cur.CreatedAt, UpdatedAt: time.UnixMilli(ms(now))}, Job: job, Changed: true}, nil
}
