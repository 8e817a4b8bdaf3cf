package queue

// Creating and editing a spec: each confirmed change is a new revision
// and a job; pending jobs it supersedes are cancelled and heard of.

import (
	"context"
	"fmt"

	"imagebuilder/builder/settings"
	"imagebuilder/builder/spec"
	"imagebuilder/db"
)

// Create validates and stores a new spec with its first job, then wakes a
// worker.
func (q *Queue) Create(ctx context.Context, in db.ImageSpec) (db.Spec, db.Job, error) {
	res, err := q.Save(ctx, db.Edit{Spec: in, Create: true})
	return res.Spec, res.Job, err
}

// Update validates and stores an edit with a new job (superseding older
// pending ones) even when nothing changed, then wakes a worker.
func (q *Queue) Update(ctx context.Context, in db.ImageSpec) (db.Spec, db.Job, error) {
	return q.confirm(ctx, in, q.db.UpdateSpec)
}

// Save validates a confirmed create or edit and stores it as the store's
// SaveSpec does (refusing a stale version, building nothing when nothing
// changed, once per intent), then wakes a worker for the job it made.
func (q *Queue) Save(ctx context.Context, e db.Edit) (db.SaveResult, error) {
	var res db.SaveResult
	_, _, err := q.confirm(ctx, e.Spec, func(ctx context.Context, in db.ImageSpec, host string) (db.Spec, db.Job, error) {
		var err error
		res, err = q.db.SaveSpec(ctx, e, host)
		if res.Repeated || !res.Changed {
			return res.Spec, db.Job{}, err
		}
		return res.Spec, res.Job, err
	})
	return res, err
}

func (q *Queue) confirm(ctx context.Context, in db.ImageSpec,
	save func(context.Context, db.ImageSpec, string) (db.Spec, db.Job, error)) (db.Spec, db.Job, error) {
	if err := spec.Validate(in); err != nil {
		return db.Spec{}, db.Job{}, err
	}
	if msg, err := settings.CheckPullSecret(ctx, q.db, in.PullSecret); err != nil {
		return db.Spec{}, db.Job{}, err
	} else if !msg.IsZero() {
		return db.Spec{}, db.Job{}, spec.ValidationError{{Field: spec.FieldPullSecret, Message: msg}}
	}
	host, err := q.currentHost(ctx)
	if err != nil {
		return db.Spec{}, db.Job{}, err
	}
	waiting := q.pendingJobs(ctx, in.Name)
	saved, j, err := save(ctx, in, host)
	if err == nil && j.ID != 0 {
		q.logQueued(j)
		q.Wake()
		q.notifySuperseded(ctx, waiting)
	}
	return saved, j, err
}

// logQueued writes the server log's line for a new pending job.
func (q *Queue) logQueued(j db.Job) {
	q.cfg.Log.Info("job queued", "job", j.ID, "spec", j.SpecName, "revision", j.Revision, "by", j.RequestedBy, "retry_of", j.RetryOf)
}

// pendingJobs are the spec's jobs that a new one would supersede (none
// when nobody hears of ended jobs).
func (q *Queue) pendingJobs(ctx context.Context, name string) []db.Job {
	if f, ok := q.hooks.(HookFuncs); ok && !f.tellsEnded() {
		return nil
	}
	jobs, _ := q.db.FindJobs(ctx, db.JobFilter{Spec: name, Status: db.StatusPending})
	return jobs
}

// notifySuperseded tells the hooks of the pending jobs a new job cancelled.
func (q *Queue) notifySuperseded(ctx context.Context, waiting []db.Job) {
	for _, w := range waiting {
		if j, err := q.db.GetJob(ctx, w.ID); err == nil && j.Status == db.StatusCancelled {
			q.cfg.Log.Info("job finished", "job", j.ID, "spec", j.SpecName, "revision", j.Revision, "status", j.Status, "reason", j.Failure.Text())
			q.hooks.Ended(j)
		}
	}
}

func (q *Queue) currentHost(ctx context.Context) (string, error) {
	if q.cfg.Registry == nil {
		return "", nil
	}
	reg, err := q.cfg.Registry(ctx)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrNoRegistry, err)
	}
	return reg.Host, nil
}
