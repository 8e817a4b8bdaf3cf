package db

import (
	"errors"
	"fmt"
	"time"

	"imagebuilder/db/failure"
)

// Status is the state of a build job.
type Status string

// The job states. Pending → Building → Succeeded | Failed | Cancelled, and
// Pending → Cancelled. Nothing else.
const (
	StatusPending   Status = "pending"
	StatusBuilding  Status = "building"
	StatusSucceeded Status = "succeeded"
	StatusFailed    Status = "failed"
	StatusCancelled Status = "cancelled"
)

// Statuses lists every status in lifecycle order.
var Statuses = []Status{StatusPending, StatusBuilding, StatusSucceeded, StatusFailed, StatusCancelled}

// CanTransition is the one place that decides which status changes are
// allowed.
func CanTransition(from, to Status) bool {
	switch from {
	case StatusPending:
		return to == StatusBuilding || to == StatusCancelled
	case StatusBuilding:
		return to == StatusSucceeded || to == StatusFailed || to == StatusCancelled
	}
	return false
}

// Finished reports whether no further transition is possible.
func (s Status) Finished() bool {
	return s == StatusSucceeded || s == StatusFailed || s == StatusCancelled
}

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	for _, v := range Statuses {
		if s == v {
			return true
		}
	}
	return false
}

// Spec is a stored image spec.
type Spec struct {
	ID int64
	ImageSpec
	CreatedAt time.Time
	UpdatedAt time.Time
	// ActiveJob is the job an administrator pinned as the active revision
	// (0: the latest succeeded one is active).
	ActiveJob int64
	// AliasTag keeps <name>:active on the active revision's image;
	// AliasDigest is where it was last put.
	AliasTag    bool
	AliasDigest string
}

// SpecSummary is one row of the Image Builder list.
type SpecSummary struct {
	Name      string
	BaseImage string
	UpdatedAt time.Time
	// LatestJobID, LatestRevision and Status describe the latest job (zero
	// when the spec has none).
	LatestJobID    int64
	LatestRevision int
	Status         Status
	// Failure says why the latest job failed or was cancelled (nil when
	// it did not).
	Failure *failure.Failure
	// Image is the reference of the active revision's image ("" if none):
	// the pinned one (Pinned), else the latest succeeded one.
	Image          string
	Digest         string
	ActiveRevision int
	Pinned         bool
	// BaseUpdated: the base image changed since the latest revision.
	BaseUpdated bool
}

// Job is a build job: one image revision of a spec.
type Job struct {
	ID       int64
	SpecID   int64
	SpecName string
	Revision int
	// Snapshot is the spec exactly as this job builds it.
	Snapshot ImageSpec
	Status   Status
	// Registry is where the job pushes (host[:port][/prefix]).
	Registry string
	Image    string
	Digest   string
	Size     int64
	// RetryOf is the job this one retries or rebuilds (0 for none).
	RetryOf int64
	// RequestedBy is the administrator whose create, edit, retry or
	// rebuild made this job ("" for none); CancelledBy who cancelled it.
	RequestedBy string
	CancelledBy string
	// Failure says why it failed or was cancelled (nil when it did not;
	// a row older than the reason codes has only a Message).
	Failure *failure.Failure
	// Sources are the package sources the build used, as JSON with every
	// credential masked ("" for none).
	Sources string
	// ContentKey names what the job builds (spec.ContentKey); "" before
	// it is known.
	ContentKey string
	// ReusedFrom is the job whose image this job reused instead of
	// building (0: it built); NoReuse makes it build regardless.
	ReusedFrom int64
	NoReuse    bool
	// BaseDigest is the digest the base image had when the job started
	// ("" when it could not be resolved).
	BaseDigest string
	// LogRemoved: retention removed the job's log.
	LogRemoved bool
	// ActivateOnSuccess makes the job its spec's active revision when it
	// succeeds (a base-image update under the "activate" policy).
	ActivateOnSuccess bool
	// APTSteps are the APT steps the build ran (package lines per step).
	APTSteps   [][]string
	QueuedAt   time.Time
	StartedAt  time.Time
	FinishedAt time.Time
	UpdatedAt  time.Time
}

// Tag is the image tag of the job's revision.
func (j Job) Tag() string { return fmt.Sprint(j.Revision) }

// Error codes of the store.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
)

// Error is a store error with a message written for the administrator:
// an English format and its arguments, so a user interface can translate
// the format and keep the arguments.
type Error struct {
	Code   error
	Format string
	Args   []any
}

func (e *Error) Error() string { return fmt.Sprintf(e.Format, e.Args...) }
func (e *Error) Unwrap() error { return e.Code }

func notFound(format string, args ...any) error {
	return &Error{Code: ErrNotFound, Format: format, Args: args}
}

func conflict(format string, args ...any) error {
	return &Error{Code: ErrConflict, Format: format, Args: args}
}
