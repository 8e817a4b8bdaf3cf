package kube_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"imagebuilder/builder/engine/enginetest"
	"imagebuilder/builder/kube"
	"imagebuilder/builder/logs"
	"imagebuilder/builder/queue"
	"imagebuilder/builder/registry"
	"imagebuilder/builder/registry/images"
	"imagebuilder/db"

	"go.podman.io/image/v5/types"
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
func inProcessQueue(b *testing.B, r *enginetest.Rig, workers int) (*queue.Queue, *db.DB, *logs.Store) {
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
	return q, store, logStore
}

// The busybox spec from Confirm to Succeeded: in this process, as one
// Kubernetes Job, and eight Kubernetes Jobs at once.
func BenchmarkConfirmToSucceeded(b *testing.B) {
	r := enginetest.Get(b)
	base := r.Busybox(b)
	b.Run("in-process", func(b *testing.B) {
		q, store, _ := inProcessQueue(b, r, 1)
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

// tenPackages are the Debian spec's APT packages in the rebuild benchmark.
var tenPackages = []string{"jq", "tree", "less", "file", "bc", "zip", "unzip", "patch", "nano", "rsync"}

// buildOnce creates or updates spec and waits for its build; it returns
// the time from Confirm to Succeeded and the build's log.
func buildOnce(b *testing.B, q *queue.Queue, store *db.DB, logs *logs.Store, sp db.ImageSpec, update bool) (time.Duration, string) {
	b.Helper()
	ctx := context.Background()
	save := q.Create
	if update {
		save = q.Update
	}
	start := time.Now()
	_, job, err := save(ctx, sp)
	if err != nil {
		b.Fatal(err)
	}
	for {
		j, err := store.GetJob(ctx, job.ID)
		if err != nil {
			b.Fatal(err)
		}
		if j.Status == db.StatusSucceeded {
			break
		}
		if j.Status.Finished() {
			raw, _ := os.ReadFile(logs.Path(job.ID))
			b.Fatalf("job %d: %s %s\n%s", job.ID, j.Status, j.Failure.Text(), raw)
		}
		time.Sleep(50 * time.Millisecond)
	}
	took := time.Since(start)
	raw, _ := os.ReadFile(logs.Path(job.ID))
	return took, string(raw)
}

// The Debian spec with ten APT packages, cold (no layers, empty package
// caches), then plus one package: in this process, and on Kubernetes with
// the layer cache in the registry and the package caches on a volume, in
// privileged and unprivileged build pods. Every build pod starts with an
// empty store (as on a node that never built the spec), so the rebuild's
// unchanged steps come from the registry; pulled-MB is what they weigh.
func BenchmarkDebianRebuild(b *testing.B) {
	r := enginetest.Get(b)
	debian := r.Debian(b)
	report := func(b *testing.B, cold, plus time.Duration) {
		b.ReportMetric(float64(cold.Milliseconds())/float64(b.N), "cold-ms")
		b.ReportMetric(float64(plus.Milliseconds())/float64(b.N), "plus1-ms")
		b.ReportMetric(float64(plus)/float64(cold), "plus1/cold")
	}
	b.Run("in-process", func(b *testing.B) {
		q, store, logStore := inProcessQueue(b, r, 1)
		var cold, plus time.Duration
		for i := 0; i < b.N; i++ {
			if err := r.Engine.ClearCaches(); err != nil {
				b.Fatal(err)
			}
			// Nor any layer of an earlier round (the benchmark's b.N=1
			// pass built the same steps): only the base stays.
			if _, err := r.Engine.PruneStorage([]string{debian}, 1); err != nil {
				b.Fatal(err)
			}
			sp := db.ImageSpec{Name: fmt.Sprintf("bench-deb-local-%d-%d", time.Now().UnixNano()%1e6, i), BaseImage: debian, APT: tenPackages}
			c, _ := buildOnce(b, q, store, logStore, sp, false)
			sp.APT = append(slices.Clone(tenPackages), "ed")
			p, _ := buildOnce(b, q, store, logStore, sp, true)
			cold, plus = cold+c, plus+p
		}
		report(b, cold, plus)
	})
	for _, mode := range []struct {
		name       string
		privileged bool
	}{{"kubernetes-privileged", true}, {"kubernetes-unprivileged", false}} {
		b.Run(mode.name, func(b *testing.B) {
			caches := b.TempDir()
			g := newRig(b, 10*time.Minute, func(c *kube.Config) {
				c.Privileged = mode.privileged
				c.CacheVolume, _ = kube.ParseCacheVolume("hostpath:" + caches)
			})
			var cold, plus time.Duration
			var pulled int64
			for i := 0; i < b.N; i++ {
				entries, _ := os.ReadDir(caches)
				for _, e := range entries {
					_ = os.RemoveAll(filepath.Join(caches, e.Name()))
				}
				sp := db.ImageSpec{Name: fmt.Sprintf("bench-deb-%s-%d-%d", mode.name[11:], time.Now().UnixNano()%1e6, i), BaseImage: debian, APT: tenPackages}
				c, _ := buildOnce(b, g.q, g.store, g.logs, sp, false)
				sp.APT = append(slices.Clone(tenPackages), "ed")
				p, log := buildOnce(b, g.q, g.store, g.logs, sp, true)
				cold, plus = cold+c, plus+p
				pulled += pulledFromCache(b, g, log, debian)
			}
			report(b, cold, plus)
			b.ReportMetric(float64(pulled)/float64(b.N)/1e6, "pulled-MB")
		})
	}
}

// pulledFromCache is what the cache images a build pulled weigh beyond
// its base image, whose layers the pod had already.
func pulledFromCache(b *testing.B, g *rig, log, base string) int64 {
	ctx := context.Background()
	sys := &types.SystemContext{DockerInsecureSkipTLSVerify: types.OptionalBoolTrue}
	baseSize, err := images.Size(ctx, base, sys)
	if err != nil {
		b.Fatal(err)
	}
	var total int64
	for _, line := range strings.Split(log, "\n") {
		_, ref, ok := strings.Cut(line, "--> Cache pulled from remote ")
		if !ok {
			continue
		}
		// Buildah writes the tag twice: repo:key:key.
		ref = ref[:strings.LastIndex(ref, ":")]
		size, err := images.Size(ctx, ref, sys)
		if err != nil {
			b.Fatal(err)
		}
		total = max(total, size-baseSize) // each holds the ones before
	}
	return total
}
