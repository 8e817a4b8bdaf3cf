package queue

// Cancelling a job, and the reasons a build is stopped on purpose.

import (
	"context"
	"errors"
	"time"

	"imagebuilder/db"
	"imagebuilder/db/failure"
)

// cancelled is how a job stopped on purpose is recorded, for each reason
// a build is stopped: an administrator's Cancel, the spec's deletion, the
// server's shutdown.
var cancelled = map[failure.Reason]string{
	failure.Cancelled:   "cancelled by an administrator",
	failure.SpecDeleted: "cancelled: the image spec was deleted",
	failure.Shutdown:    "cancelled: the server shut down",
}

// cancelFailure is the failure of a job cancelled for reason.
func cancelFailure(reason failure.Reason) *failure.Failure {
	return failure.New(reason, cancelled[reason])
}

// cancelReason is the cause given to a build's context when it is cancelled
// on purpose (as opposed to a timeout), by whom ("" for the server).
type cancelReason struct {
	why *failure.Failure
	by  string
}

func (c cancelReason) Error() string { return c.why.Message }

// Cancel stops a Pending or Building job, as an administrator's cancel.
// A Building job is recorded as cancelled by its worker once the build has
// stopped; Cancel waits for that.
func (q *Queue) Cancel(ctx context.Context, jobID int64) (db.Job, error) {
	return q.cancel(ctx, jobID, cancelFailure(failure.Cancelled))
}

func (q *Queue) cancel(ctx context.Context, jobID int64, why *failure.Failure) (db.Job, error) {
	j, err := q.db.CancelPendingJob(ctx, jobID, why)
	if err == nil {
		q.cfg.Log.Info("job finished", "job", j.ID, "spec", j.SpecName, "revision", j.Revision, "status", j.Status, "reason", j.Failure.Text(), "by", j.CancelledBy)
		q.hooks.Ended(j)
	}
	if err == nil || !errors.Is(err, db.ErrConflict) {
		return j, err
	}
	// Building: find its worker (it registers right after claiming).
	var rj *runningJob
	for tries := 0; rj == nil; tries++ {
		q.mu.Lock()
		rj = q.running[jobID]
		q.mu.Unlock()
		if rj != nil {
			break
		}
		j, err := q.db.GetJob(ctx, jobID)
		if err != nil || j.Status.Finished() || tries > 100 {
			return j, err // finished meanwhile, or not built by this process
		}
		time.Sleep(20 * time.Millisecond)
	}
	rj.cancel(cancelReason{why: why, by: db.ActorOf(ctx)})
	select {
	case <-rj.done:
	case <-ctx.Done():
		return db.Job{}, ctx.Err()
	}
	return q.db.GetJob(ctx, jobID)
}
