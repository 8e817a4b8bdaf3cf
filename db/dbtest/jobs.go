package dbtest

import (
	"context"
	"slices"
	"testing"
	"time"

	"imagebuilder/db"
)

// EndedJob records a new spec called name whose first job ends as out
// says, through the store's own calls (so whatever a job's end writes, such
// as webhook deliveries, is written), and returns the job as recorded. A
// cancelled job is cancelled while pending; any other is claimed first,
// which needs no other job pending in the store.
func EndedJob(t testing.TB, store *db.DB, name string, out db.JobOutcome) db.Job {
	t.Helper()
	ctx := context.Background()
	_, j, err := store.CreateSpec(ctx, db.ImageSpec{Name: name, BaseImage: "registry.example.com/base:1", APT: []string{"curl"}}, "registry.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if out.Status == db.StatusCancelled {
		j, err = store.CancelPendingJob(ctx, j.ID, out.Failure)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	claimed, ok, err := store.ClaimNextJob(ctx)
	if err != nil || !ok || claimed.ID != j.ID {
		t.Fatalf("claimed %+v (%v, %v), want job %d", claimed, ok, err, j.ID)
	}
	j, err = store.FinishJob(ctx, j.ID, out)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// WaitJob waits up to timeout for job id to reach one of want, and
// returns it. A job that ends otherwise fails the test at once, with its
// reason; at the deadline the test fails with what explain says (a log,
// the goroutines), when explain is not nil.
func WaitJob(t testing.TB, store *db.DB, id int64, timeout time.Duration, explain func() string, want ...db.Status) db.Job {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		j, err := store.GetJob(context.Background(), id)
		if err == nil {
			if slices.Contains(want, j.Status) {
				return j
			}
			if j.Status.Finished() {
				t.Fatalf("job %d ended %s (reason %q: %q, by %q), want %v", id, j.Status, j.Failure.Code(), j.Failure.Text(), j.CancelledBy, want)
			}
		}
		if time.Now().After(deadline) {
			more := ""
			if explain != nil {
				more = "\n" + explain()
			}
			t.Fatalf("job %d is %s (%v) after %s, want %v%s", id, j.Status, err, timeout, want, more)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
