package queue

import (
	"context"

	"imagebuilder/db"
)

// Hooks are what the queue tells the rest of the product about its jobs
// and specs, besides the store: the metrics, the webhooks, housekeeping.
// The queue calls them and nothing else of the product (the executor
// builds, the Reuser and Inventorier read images). Started, Finished and
// Ended must return quickly.
type Hooks interface {
	// Started is a job whose build begins (not one followed again after
	// a restart).
	Started(job db.Job)
	// Finished is a job that ran and ended, however; job.StartedAt is
	// set. It is called even when the outcome could not be recorded.
	Finished(job db.Job, out db.JobOutcome)
	// Ended is a job that ended, as recorded: one that ran, and a pending
	// one cancelled or superseded.
	Ended(job db.Job)
	// SpecDeleted is a deleted spec with its jobs as they were before the
	// deletion, for its images to be removed from where they were pushed.
	SpecDeleted(ctx context.Context, name string, jobs []db.Job) error
}

// HookFuncs are Hooks made of functions; a nil one is not called.
type HookFuncs struct {
	OnStarted     func(job db.Job)
	OnFinished    func(job db.Job, out db.JobOutcome)
	OnEnded       func(job db.Job)
	OnSpecDeleted func(ctx context.Context, name string, jobs []db.Job) error
}

func (h HookFuncs) Started(job db.Job) {
	if h.OnStarted != nil {
		h.OnStarted(job)
	}
}

func (h HookFuncs) Finished(job db.Job, out db.JobOutcome) {
	if h.OnFinished != nil {
		h.OnFinished(job, out)
	}
}

func (h HookFuncs) Ended(job db.Job) {
	if h.OnEnded != nil {
		h.OnEnded(job)
	}
}

func (h HookFuncs) SpecDeleted(ctx context.Context, name string, jobs []db.Job) error {
	if h.OnSpecDeleted != nil {
		return h.OnSpecDeleted(ctx, name, jobs)
	}
	return nil
}

// tellsEnded reports whether anyone hears of ended jobs (then the pending
// jobs a new one supersedes are looked up, to be told of).
func (h HookFuncs) tellsEnded() bool { return h.OnEnded != nil }
