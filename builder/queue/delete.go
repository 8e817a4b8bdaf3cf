package queue

// Deleting a spec: its jobs cancelled, then its rows and logs removed.

import (
	"context"
	"errors"

	"imagebuilder/db/failure"
)

// Delete cancels the spec's unfinished jobs, then removes the spec, its
// jobs and their logs, and (Hooks.SpecDeleted) its images' tags.
func (q *Queue) Delete(ctx context.Context, name string) error {
	jobs, err := q.db.ListJobs(ctx, name)
	if err != nil {
		return err
	}
	if _, err := q.db.GetSpec(ctx, name); err != nil {
		return err
	}
	for _, j := range jobs {
		if !j.Status.Finished() {
			if _, err := q.cancel(ctx, j.ID, cancelFailure(failure.SpecDeleted)); err != nil {
				return err
			}
		}
	}
	if err := q.db.DeleteSpec(ctx, name); err != nil {
		return err
	}
	var errs []error
	for _, j := range jobs {
		errs = append(errs, q.logs.Remove(j.ID))
	}
	errs = append(errs, q.hooks.SpecDeleted(ctx, name, jobs))
	return errors.Join(errs...)
}
