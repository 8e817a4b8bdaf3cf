package dbtest

import (
	"context"
	"testing"

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
