package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ActionActivate is an administrator choosing a spec's active revision.
const ActionActivate = "activate"

// AliasTag is the tag kept on a spec's active revision when its alias is on.
const AliasTag = "active"

// activeJobSQL picks a spec's active job: the pinned one while it is still
// a succeeded job of the spec, else the latest succeeded one. It expects
// the spec's row as s.
const activeJobSQL = `COALESCE(
	(SELECT id FROM jobs WHERE id = s.active_job AND spec_id = s.id AND status = 'succeeded'),
	(SELECT id FROM jobs WHERE spec_id = s.id AND status = 'succeeded' ORDER BY id DESC LIMIT 1))`

// ActiveJob is a spec's active revision's job; pinned says an
// administrator chose it (else it is the latest succeeded); ok is false
// while the spec has no succeeded revision.
func (d *DB) ActiveJob(ctx context.Context, specName string) (job Job, pinned, ok bool, err error) {
	var id, pin int64
	err = d.read.QueryRowContext(ctx, `SELECT COALESCE(`+activeJobSQL+`, 0), s.active_job FROM specs s WHERE s.name = ?`, specName).Scan(&id, &pin)
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, false, false, notFound("image spec %q does not exist", specName)
	}
	if err != nil {
		return Job{}, false, false, fmt.Errorf("the active revision of %s: %w", specName, err)
	}
	if id == 0 {
		return Job{}, false, false, nil
	}
	job, err = d.GetJob(ctx, id)
	return job, pin == id, err == nil, err
}

// SetActiveJob pins a succeeded revision (its job id) as the spec's active
// one, or with 0 goes back to the latest succeeded revision.
func (d *DB) SetActiveJob(ctx context.Context, specName string, jobID int64) error {
	tx, err := d.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var specID int64
	if err := tx.QueryRowContext(ctx, `SELECT id FROM specs WHERE name = ?`, specName).Scan(&specID); errors.Is(err, sql.ErrNoRows) {
		return notFound("image spec %q does not exist", specName)
	} else if err != nil {
		return err
	}
	revision := 0
	if jobID != 0 {
		var owner int64
		var status Status
		err := tx.QueryRowContext(ctx, `SELECT spec_id, status, revision FROM jobs WHERE id = ?`, jobID).Scan(&owner, &status, &revision)
		switch {
		case errors.Is(err, sql.ErrNoRows) || (err == nil && owner != specID):
			return notFound("build job %d is not a revision of %s", jobID, specName)
		case err != nil:
			return err
		case status != StatusSucceeded:
			return conflict("revision %d is %s; only a succeeded revision can be active", revision, status)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE specs SET active_job = ? WHERE id = ?`, jobID, specID); err != nil {
		return fmt.Errorf("set the active revision of %s: %w", specName, err)
	}
	if err := d.audit(ctx, tx, ActorOf(ctx), ActionActivate, specName, jobID, revision); err != nil {
		return err
	}
	return tx.Commit()
}

// SetAliasTag turns the spec's <name>:active tag on or off.
func (d *DB) SetAliasTag(ctx context.Context, specName string, on bool) error {
	detail := Describe("the active tag is off")
	if on {
		detail = Describe("the active tag is on")
	}
	res, err := d.execAudited(ctx, AuditEvent{Action: ActionAlias, Spec: specName, Detail: detail}, `UPDATE specs SET alias_tag = ? WHERE name = ?`, on, specName)
	if err != nil {
		return fmt.Errorf("set the alias tag of %s: %w", specName, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("image spec %q does not exist", specName)
	}
	return nil
}

// SetAliasDigest records where the spec's alias tag now points.
func (d *DB) SetAliasDigest(ctx context.Context, specName, digest string) error {
	if _, err := d.write.ExecContext(ctx, `UPDATE specs SET alias_digest = ? WHERE name = ?`, digest, specName); err != nil {
		return fmt.Errorf("record the alias tag of %s: %w", specName, err)
	}
	return nil
}
