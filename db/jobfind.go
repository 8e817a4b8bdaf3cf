package db

// The API's job lists.

import (
	"context"
	"fmt"
)

// JobFilter selects jobs for the API's lists: of one spec (Spec) or all,
// in one status (Status, "": any), newest first, at most Limit of them
// with an ID below Before (0: from the newest).
type JobFilter struct {
	Spec   string
	Status Status
	Limit  int
	Before int64
}

// FindJobs lists the jobs f selects.
func (d *DB) FindJobs(ctx context.Context, f JobFilter) ([]Job, error) {
	q := `SELECT ` + jobColumns + ` FROM jobs j JOIN specs s ON s.id = j.spec_id WHERE 1=1`
	var args []any
	if f.Spec != "" {
		q += ` AND s.name = ?`
		args = append(args, f.Spec)
	}
	if f.Status != "" {
		q += ` AND j.status = ?`
		args = append(args, f.Status)
	}
	if f.Before > 0 {
		q += ` AND j.id < ?`
		args = append(args, f.Before)
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	q += ` ORDER BY j.id DESC LIMIT ?`
	args = append(args, f.Limit)
	jobs, err := d.queryJobs(ctx, d.read, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	return jobs, nil
}
