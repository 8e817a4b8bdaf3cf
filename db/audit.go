package db

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Audit actions.
const (
	ActionCreate  = "create"
	ActionEdit    = "edit"
	ActionCancel  = "cancel"
	ActionRetry   = "retry"
	ActionRebuild = "rebuild"
	ActionDelete  = "delete"
)

// AuditEvent is one administrator action on a spec or a job.
type AuditEvent struct {
	ID       int64
	At       time.Time
	Actor    string
	Action   string
	Spec     string
	JobID    int64
	Revision int
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

// audit records an action of actor inside tx; the system's own actions
// (no actor) are not administrator actions and are not recorded.
func (d *DB) audit(ctx context.Context, tx *sql.Tx, actor, action, spec string, jobID int64, revision int) error {
	if actor == "" {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_events (at, actor, action, spec, job_id, revision) VALUES (?, ?, ?, ?, ?, ?)`,
		ms(d.now()), actor, action, spec, jobID, revision); err != nil {
		return fmt.Errorf("record %s of %s: %w", action, spec, err)
	}
	return nil
}

// ListAudit returns the newest events first, of one spec when spec is not
// empty, at most limit of them, starting after the first offset.
func (d *DB) ListAudit(ctx context.Context, spec string, limit, offset int) ([]AuditEvent, error) {
	q := `SELECT id, at, actor, action, spec, job_id, revision FROM audit_events`
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
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Spec, &e.JobID, &e.Revision); err != nil {
			return nil, fmt.Errorf("list audit events: %w", err)
		}
		e.At = time.UnixMilli(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// AuditSpecs lists the spec names that have audit events, by name.
func (d *DB) AuditSpecs(ctx context.Context) ([]string, error) {
	rows, err := d.read.QueryContext(ctx, `SELECT DISTINCT spec FROM audit_events ORDER BY spec`)
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
