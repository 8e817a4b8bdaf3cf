package queue

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"imagebuilder/builder/logs"
	"imagebuilder/db"
)

// The hooks hear (Ended) of every job that ends without a build too: one
// cancelled while pending, and one a newer revision superseded.
func TestNotifyHearsOfCancelledAndSupersededJobs(t *testing.T) {
	dir := t.TempDir()
	store, err := db.Open(filepath.Join(dir, "imagebuilder.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	logStore, err := logs.NewStore(filepath.Join(dir, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var heard []db.Job
	q := New(store, nil, logStore, Config{Hooks: HookFuncs{OnEnded: func(j db.Job) { mu.Lock(); heard = append(heard, j); mu.Unlock() }}})
	ctx := context.Background()
	// Not started: jobs stay pending.
	_, first, err := q.Create(ctx, db.ImageSpec{Name: "tools", BaseImage: "busybox"})
	if err != nil {
		t.Fatal(err)
	}
	_, second, err := q.Update(ctx, db.ImageSpec{Name: "tools", BaseImage: "busybox", APT: []string{"jq"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Cancel(ctx, second.ID); err != nil {
		t.Fatal(err)
	}
	if len(heard) != 2 || heard[0].ID != first.ID || heard[0].Status != db.StatusCancelled || heard[1].ID != second.ID || heard[1].Status != db.StatusCancelled {
		t.Fatalf("heard %+v, want revision 1 superseded, then revision 2 cancelled", heard)
	}
	// Retrying the cancelled revision supersedes nothing.
	if _, err := q.Retry(ctx, second.ID); err != nil {
		t.Fatal(err)
	}
	if len(heard) != 2 {
		t.Fatalf("a retry with nothing pending notified %+v", heard[2:])
	}
}
