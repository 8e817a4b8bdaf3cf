package views

import (
	"strings"
	"time"

	"imagebuilder/db/failure"
)

// The job page's model.

// JobView is the page of one build job.
type JobView struct {
	Layout
	// Sources are the package sources the build used (credentials masked).
	Sources  []SourceLine
	ID       int64
	SpecName string
	Revision int
	Status   string
	// Failure says why it failed or was cancelled (nil when it did not).
	Failure    *failure.Failure
	QueuedAt   time.Time
	StartedAt  time.Time
	FinishedAt time.Time
	Image      string
	Digest     string
	Size       int64
	RetryOf    int64
	// ReusedFrom is the job whose image this one reused (0: built), of
	// revision ReusedRevision.
	ReusedFrom     int64
	ReusedRevision int
	// Snapshot is the spec as this job built it.
	SnapshotBase       string
	SnapshotPullSecret string
	SnapshotAPT        []string
	SnapshotConda      []string
	SnapshotPip        []string
	// Lines is the log tail; Cursor the byte offset after it, where the
	// live feed continues.
	Lines      []string
	Cursor     int64
	CanCancel  bool
	CanRetry   bool
	CanRebuild bool
	// RequestedBy and CancelledBy name administrators ("" for none).
	RequestedBy string
	CancelledBy string
	// Inventory is what a succeeded job's image holds (nil otherwise).
	Inventory *InventoryView
	// LogRemoved: retention removed the log.
	LogRemoved bool
}

// DiagnosisIndex is the index in Lines of the log line the failure reason
// quotes (the step's telling line), or -1.
func (v JobView) DiagnosisIndex() int {
	quoted := v.Failure.Quoted()
	if quoted == "" {
		return -1
	}
	for i := len(v.Lines) - 1; i >= 0; i-- {
		// A line is "<timestamp> <text>"; the reason quotes the text.
		_, text, _ := strings.Cut(v.Lines[i], " ")
		text = strings.TrimSpace(text)
		if text == quoted || strings.TrimPrefix(text, "Image Builder: ") == quoted {
			return i
		}
	}
	return -1
}

// Live reports whether the log may still grow.
func (v JobView) Live() bool { return v.Status == "pending" || v.Status == "building" }
