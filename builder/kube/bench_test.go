package kube_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"imagebuilder/builder/engine/enginetest"
	"imagebuilder/builder/logs"
	"imagebuilder/builder/queue"
	"imagebuilder/builder/registry"
	"imagebuilder/db"
)

// confirmToSucceeded creates n specs on the queue at once and returns how
// long the last took from Confirm (Create) to Succeeded.
func confirmToSucceeded(b *testing.B, q *queue.Queue, store *db.DB, base, prefix string, n int) time.Duration {
	b.Helper()
	ctx := context.Background()
	start := time.Now()
	ids := make([]int64, n)
	for i := range ids {
		_, job, err := q.Create(ctx, db.ImageSpec{Name: fmt.Sprintf("%s-%d", prefix, i), BaseImage: base})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = job.ID
	}
	for _, id := range ids {
		for {
			j, err := store.GetJob(ctx, id)
			if err != nil {
				b.Fatal(err)
			}
			if j.Status == db.StatusSucceeded {
				break
			}
			if j.Status == db.StatusFailed || j.Status == db.StatusCancelled {
				b.Fatalf("job %d: %s %s", id, j.Status, j.Failure.Text())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return time.Since(start)
}

// inProcessQueue is a queue on the rig's own engine.
func inProcessQueue(b *testing.B, r *enginetest.Rig, workers int) (*queue.Queue, *db.DB) {
	dir := b.TempDir()
	store, err := db.Open(dir + "/imagebuilder.db")
	if err != nil {
		b.Fatal(err)
	}
	logStore, err := logs.NewStore(dir + "/logs")
	if err != nil {
		b.Fatal(err)
	}
	q := queue.New(store, r.Engine, logStore, queue.Config{Workers: workers, Timeout: 10 * time.Minute,
		Registry: func(context.Context) (registry.Target, error) { return r.Target, nil }})
	if err := q.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = q.Stop(ctx)
		store.Close()
	})
	return q, store
}

// The busybox spec from Confirm to Succeeded: in this process, as one
// Kubernetes Job, and eight Kubernetes Jobs at once.
func BenchmarkConfirmToSucceeded(b *testing.B) {
	r := enginetest.Get(b)
	base := r.Busybox(b)
	b.Run("in-process", func(b *testing.B) {
		q, store := inProcessQueue(b, r, 1)
		var total time.Duration
		for i := 0; i < b.N; i++ {
			total += confirmToSucceeded(b, q, store, base, fmt.Sprintf("bench-local-%d", i), 1)
		}
		b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/build")
	})
	b.Run("kubernetes", func(b *testing.B) {
		g := newRig(b, 10*time.Minute, nil)
		var total time.Duration
		for i := 0; i < b.N; i++ {
			total += confirmToSucceeded(b, g.q, g.store, base, fmt.Sprintf("bench-kube-%d", i), 1)
		}
		b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/build")
	})
	b.Run("kubernetes-8-parallel", func(b *testing.B) {
		g := newRigN(b, 10*time.Minute, 8, nil)
		var total time.Duration
		for i := 0; i < b.N; i++ {
			total += confirmToSucceeded(b, g.q, g.store, base, fmt.Sprintf("bench-par-%d", i), 8)
		}
		b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/8-builds")
	})
}
