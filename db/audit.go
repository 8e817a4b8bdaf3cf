package db

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Audit actions: on specs and their jobs (Spec names the spec) ...
const (
	ActionCreate        = "create"
	ActionEdit          = "edit"
	ActionCancel        = "cancel"
	ActionRetry         = "retry"
	ActionRebuild       = "rebuild"
	ActionDelete        = "delete"
	ActionAlias         = "alias"
	ActionBasePolicy    = "base-policy"
	ActionSpecRetention = "spec-retention"
)

// ... and on everything else (Target names what was changed).
const (
	ActionCheckBases       = "check-bases"
	ActionBaseImageSave    = "base-image-save"
	ActionBaseImageDelete  = "base-image-delete"
	ActionPullSecretSave   = "pull-secret-save"
	ActionPullSecretDelete = "pull-secret-delete"
	// ActionSettings is a saved setting; Target is its key (registry,
	// build-limits, retention, schedule, package-sources).
	ActionSettings       = "settings"
	ActionWebhookAdd     = "webhook-add"
	ActionWebhookDelete  = "webhook-delete"
	ActionRedeliver      = "webhook-redeliver"
	ActionTokenCreate    = "token-create"
	ActionTokenDelete    = "token-delete"
	ActionSignIn         = "sign-in"
	ActionSignOut        = "sign-out"
	ActionSessionsEnd    = "sessions-end"
	ActionPasswordChange = "password-change"
	ActionAdminCreate    = "admin-create"
	ActionHousekeeping   = "housekeeping"
	ActionCachesClear    = "caches-clear"
)

// AuditEvent is one administrator action: on a spec or a job (Spec,
// JobID, Revision), or on something else (Target), with what changed
// (Detail, never a secret value).
type AuditEvent struct {
	ID       int64
	At       time.Time
	Actor    string
	Action   string
	Spec     string
	JobID    int64
	Revision int
	Target   string
	Detail   Detail
}

// Detail says what an action changed: an English format and its
// arguments, so a page can translate the format and keep the arguments.
type Detail struct {
	Format string
	Args   []string
}

// Describe makes a Detail of a format and its arguments (written as %s).
func Describe(format string, args ...any) Detail {
	d := Detail{Format: format}
	for _, a := range args {
		d.Args = append(d.Args, fmt.Sprint(a))
	}
	return d
}

// String is the detail in English.
func (d Detail) String() string {
	if len(d.Args) == 0 {
		return d.Format
	}
	args := make([]any, len(d.Args))
	for i, a := range d.Args {
		args[i] = a
	}
	return fmt.Sprintf(d.Format, args...)
}

type actorKey struct{}

// WithActor names the administrator on whose behalf the store is called;
// the jobs and audit events it writes record that name.
func WithActor(ctx context.Context, username string) context.Context {
	return context.WithValue(ctx, actorKey{}, username)
}

// ActorOf is the administrator named by WithActor, or "" (the system).
func ActorOf(ctx context.Context) string {
	s, _ := ctx.Value(actorKey{}).(string)
	return s
}

// audit records an action of actor on a spec or job inside tx.
func (d *DB) audit(ctx context.Context, tx *sql.Tx, actor, action, spec string, jobID int64, revision int) error {
	return d.record(ctx, tx, AuditEvent{Actor: actor, Action: action, Spec: spec, JobID: jobID, Revision: revision})
}

// record writes e inside tx, by e.Actor or else the context's actor; the
// system's own actions (no actor) are not administrator actions and are
// not recorded.
func (d *DB) record(ctx context.Context, tx *sql.Tx, e AuditEvent) error {
	if e.Actor == "" {
		e.Actor = ActorOf(ctx)
	}
	if e.Actor == "" {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_events (at, actor, action, spec, job_id, revision, target, detail, detail_args) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ms(d.now()), e.Actor, e.Action, e.Spec, e.JobID, e.Revision, e.Target, e.Detail.Format, encodeList(e.Detail.Args)); err != nil {
		return fmt.Errorf("record %s of %s%s: %w", e.Action, e.Spec, e.Target, err)
	}
	return nil
}

// Audit records an action that changes nothing in the store itself
// (clearing the package caches, checking base images).
func (d *DB) Audit(ctx context.Context, e AuditEvent) error {
	tx, err := d.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := d.record(ctx, tx, e); err != nil {
		return err
	}
	return tx.Commit()
}

// execAudited runs one write and, when it changed a row, records e with
// it in the same transaction.
func (d *DB) execAudited(ctx context.Context, e AuditEvent, query string, args ...any) (sql.Result, error) {
	tx, err := d.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n > 0 {
		if err := d.record(ctx, tx, e); err != nil {
			return nil, err
		}
	}
	return res, tx.Commit()
}

// ListAudit returns the newest events first, of one spec when spec is not
// empty, at most limit of them, starting after the first offset.
func (d *DB) ListAudit(ctx context.Context, spec string, limit, offset int) ([]AuditEvent, error) {
	q := `SELECT id, at, actor, action, spec, job_id, revision, target, detail, detail_args FROM audit_events`
	var args []any
	if spec != "" {
		q += ` WHERE spec = ?`
		args = append(args, spec)
	}
	q += ` ORDER BY id DESC LIMIT ? OFFSET ?`
	args = append(args, limit, offset)
	rows, err := d.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	defer rows.Close()
	var out []AuditEvent
	for rows.Next() {
		var e AuditEvent
		var at int64
		var args string
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Spec, &e.JobID, &e.Revision, &e.Target, &e.Detail.Format, &args); err != nil {
			return nil, fmt.Errorf("list audit events: %w", err)
		}
		e.At, e.Detail.Args = time.UnixMilli(at), decodeList(args)
		out = append(out, e)
	}
	return out, rows.Err()
}

// AuditSpecs lists the spec names that have audit events, by name.
func (d *DB) AuditSpecs(ctx context.Context) ([]string, error) {
	rows, err := d.read.QueryContext(ctx, `SELECT DISTINCT spec FROM audit_events WHERE spec <> '' ORDER BY spec`)
	if err != nil {
		return nil, fmt.Errorf("list audited specs: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
