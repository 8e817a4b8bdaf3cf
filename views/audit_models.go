package views

import (
	"time"
)

// The audit log's model.

// AuditRow is one administrator action.
type AuditRow struct {
	At       time.Time
	Actor    string
	Action   string
	Spec     string
	JobID    int64
	Revision int
	// SpecExists: the spec is still there to link to.
	SpecExists bool
	// Target names what changed when it is not a spec; Detail says how.
	Target, Detail string
}

// AuditPage is the audit log, optionally of one spec.
type AuditPage struct {
	Layout
	Spec    string
	Specs   []string
	Events  []AuditRow
	Page    int
	HasNext bool
}
