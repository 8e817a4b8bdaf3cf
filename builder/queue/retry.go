package queue

// Retry and Rebuild: a job's snapshot built again as the spec's next
// revision.

import (
	"context"

	"imagebuilder/db"
)

// Retry enqueues the latest, failed or cancelled, job's snapshot again.
func (q *Queue) Retry(ctx context.Context, jobID int64) (db.Job, error) {
	return q.again(ctx, jobID, q.db.RetryJob)
}

// Rebuild enqueues a succeeded job's snapshot, of any revision, as the
// spec's next revision.
func (q *Queue) Rebuild(ctx context.Context, jobID int64) (db.Job, error) {
	return q.again(ctx, jobID, q.db.RebuildJob)
}

func (q *Queue) again(ctx context.Context, jobID int64, enqueue func(context.Context, int64, string) (db.Job, error)) (db.Job, error) {
	host, err := q.currentHost(ctx)
	if err != nil {
		return db.Job{}, err
	}
	var waiting []db.Job
	if old, err := q.db.GetJob(ctx, jobID); err == nil {
		waiting = q.pendingJobs(ctx, old.SpecName)
	}
	j, err := enqueue(ctx, jobID, host)
	if err == nil {
		q.logQueued(j)
		q.Wake()
		q.notifySuperseded(ctx, waiting)
	}
	return j, err
}
