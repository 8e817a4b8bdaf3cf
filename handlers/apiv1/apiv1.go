// Package apiv1 is what the /api/v1 answers carry: the types the handlers
// write and the command line reads, so both speak one contract (the
// OpenAPI document, which a test holds real answers to). It knows no HTTP.
package apiv1

import (
	"time"

	"imagebuilder/db"
	"imagebuilder/db/failure"
)

// Spec is a spec as the API shows it: what was saved, and where it
// stands.
type Spec struct {
	db.ImageSpec
	// Image is the active revision's image ("" until one succeeds);
	// ActiveRevision its revision, Pinned whether an administrator chose it.
	Image          string `json:"image,omitempty"`
	ActiveRevision int    `json:"activeRevision,omitempty"`
	Pinned         bool   `json:"pinned,omitempty"`
	// Status is the latest job's status ("" when never built).
	Status         string     `json:"status,omitempty"`
	LatestJob      int64      `json:"latestJob,omitempty"`
	LatestRevision int        `json:"latestRevision,omitempty"`
	BaseUpdated    bool       `json:"baseUpdated,omitempty"`
	UpdatedAt      *time.Time `json:"updatedAt,omitempty"`
}

// Job is a build job as the API shows it. Diagnosis and Hint say why
// it failed or was cancelled, in the request's language, as the job page
// does.
type Job struct {
	ID        int64        `json:"id"`
	Spec      string       `json:"spec"`
	Revision  int          `json:"revision"`
	Status    string       `json:"status"`
	Snapshot  db.ImageSpec `json:"snapshot"`
	Registry  string       `json:"registry,omitempty"`
	Image     string       `json:"image,omitempty"`
	Digest    string       `json:"digest,omitempty"`
	Size      int64        `json:"size,omitempty"`
	Reason    string       `json:"reason,omitempty"`
	Diagnosis string       `json:"diagnosis,omitempty"`
	Hint      string       `json:"hint,omitempty"`
	// Failure is why, as the store, the webhooks and the job page have it.
	Failure     *failure.Failure `json:"failure,omitempty"`
	RetryOf     int64            `json:"retryOf,omitempty"`
	ReusedFrom  int64            `json:"reusedFrom,omitempty"`
	BaseDigest  string           `json:"baseDigest,omitempty"`
	RequestedBy string           `json:"requestedBy,omitempty"`
	CancelledBy string           `json:"cancelledBy,omitempty"`
	QueuedAt    *time.Time       `json:"queuedAt,omitempty"`
	StartedAt   *time.Time       `json:"startedAt,omitempty"`
	FinishedAt  *time.Time       `json:"finishedAt,omitempty"`
}

// SpecResult answers a create or an update: the spec, the job it
// started (none when an update changed nothing) and whether it changed.
type SpecResult struct {
	Spec    Spec `json:"spec"`
	Job     *Job `json:"job,omitempty"`
	Changed bool `json:"changed"`
}
