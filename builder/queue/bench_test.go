package queue

import (
	"context"
	"testing"
	"time"

	"imagebuilder/builder/engine/enginetest"
	"imagebuilder/builder/registry"
	"imagebuilder/db"
)

// BenchmarkUnchangedSaveReuses saves a spec unchanged and waits for its new
// revision to succeed: no build, the earlier image tagged again and its
// inventory copied. Target: well under a second.
func BenchmarkUnchangedSaveReuses(b *testing.B) {
	r := enginetest.Get(b)
	store, logStore := openStores(b)
	q := New(store, r.Engine, logStore, Config{Workers: 1, Timeout: 5 * time.Minute, Reuse: r.Images, Inventory: r.Images,
		Registry: func(context.Context) (registry.Target, error) { return r.Target, nil }})
	if err := q.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer q.Stop(context.Background())
	ctx := context.Background()
	s := db.ImageSpec{Name: "bench-reuse", BaseImage: r.Busybox(b)}
	_, j, err := q.Create(ctx, s)
	if err != nil {
		b.Fatal(err)
	}
	if j = waitJob(b, store, j.ID, db.StatusSucceeded, db.StatusFailed); j.Status != db.StatusSucceeded {
		b.Fatalf("first build: %+v", j)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, next, err := q.Update(ctx, s)
		if err != nil {
			b.Fatal(err)
		}
		if next = waitJob(b, store, next.ID, db.StatusSucceeded, db.StatusFailed); next.ReusedFrom == 0 {
			b.Fatalf("revision %d was built", next.Revision)
		}
	}
}
