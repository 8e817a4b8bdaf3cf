package views

import (
	"time"
)

// The Builds page's model.

// BuildsPage lists the builds that run or wait, across specs.
type BuildsPage struct {
	Layout
	Rows []QueueRow
	// Now is when the page was made (waiting times count to it).
	Now time.Time
	// Workers is how many builds run at once (0: not said).
	Workers int
}

// QueueRow is one build that runs or waits.
type QueueRow struct {
	ID       int64
	Spec     string
	Revision int
	Status   string
	// Position is the place in the queue of a waiting build (1: next).
	Position    int
	QueuedAt    time.Time
	StartedAt   time.Time
	RequestedBy string
}

// Waited is how long the build waited, or waits so far.
func (r QueueRow) Waited(now time.Time) string {
	if r.Status == "building" {
		return duration(r.QueuedAt, r.StartedAt)
	}
	return duration(r.QueuedAt, now)
}

// Live reports whether the page must keep itself up to date.
func (v BuildsPage) Live() bool { return len(v.Rows) > 0 }
