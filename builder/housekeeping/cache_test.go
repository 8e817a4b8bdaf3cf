package housekeeping

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"imagebuilder/builder/engine"
	"imagebuilder/builder/engine/enginetest"
	"imagebuilder/builder/logs"
	"imagebuilder/builder/logs/logstest"
	"imagebuilder/builder/queue"
	"imagebuilder/builder/registry"
	"imagebuilder/db"
	"imagebuilder/db/dbtest"
)

// Build pods' layer caches (a repository per spec in the registry) are
// bounded by housekeeping: a spec keeps its newest cache images, a deleted
// spec's cache goes, and a collection then frees their blobs.
func TestLayerCachesAreBoundedAndGoWithTheirSpec(t *testing.T) {
	r := enginetest.Get(t)
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
	keeper := &Keeper{DB: store, Logs: logStore, Registry: r.Server, RegistryHost: r.Target.Host, CacheKept: 1,
		Default: func(context.Context) (db.Retention, error) { return db.Retention{}, nil }}
	q := queue.New(store, r.Engine, logStore, queue.Config{Workers: 1, Timeout: 5 * time.Minute,
		Registry: func(context.Context) (registry.Target, error) { return r.Target, nil }, Hooks: queue.HookFuncs{OnSpecDeleted: keeper.ForgetSpec}})
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer q.Stop(context.Background())
	ctx := context.Background()
	// The registry is the test binary's: leave no cache to other tests.
	t.Cleanup(func() { _, _ = r.Server.TrimCache(ctx, "cached", 0) })
	base := fakeAPTBase(t, r)
	// Two specs whose builds (as a build pod makes them) push a cache
	// image per APT step: three steps each. Freed at the end: the three
	// layers of the deleted spec (the spec keeping its newest image keeps
	// all three of its own: each step's image holds the steps before it).
	for _, name := range []string{"cached", "uncached"} {
		sp := db.ImageSpec{Name: name, BaseImage: base, APT: []string{"one", "two", "three"}}
		_, j, err := q.Create(ctx, sp)
		if err != nil {
			t.Fatal(err)
		}
		dbtest.WaitJob(t, store, j.ID, 2*time.Minute, nil, db.StatusSucceeded)
		var log logstest.Buffer
		_, err = r.Engine.Build(ctx, engine.BuildRequest{Spec: sp, Tag: "cache-test", Registry: r.Target, Log: &log,
			PreviousAPT: [][]string{{"one"}, {"two"}}, NoCache: true, CacheRepo: r.Target.Host + "/" + registry.CacheRepository(name)})
		if err != nil {
			t.Fatalf("%v\n%s", err, log.String())
		}
		// Only the cache images hold these layers (each install writes
		// random bytes): the final image's tag goes.
		if err := r.Server.Untag(ctx, name, "cache-test"); err != nil {
			t.Fatal(err)
		}
		if tags, _ := r.Server.CacheTags(name); len(tags) < 3 {
			t.Fatalf("%s's layer cache: %v\n%s", name, tags, log.String())
		}
	}
	if err := q.Delete(ctx, "uncached"); err != nil {
		t.Fatal(err)
	}
	if tags, _ := r.Server.CacheTags("uncached"); len(tags) != 0 {
		t.Errorf("a deleted spec's layer cache stays: %v", tags)
	}
	before := r.Server.BlobBytes()
	run, err := keeper.Run(ctx, TriggerButton)
	if err != nil {
		t.Fatal(err)
	}
	if tags, _ := r.Server.CacheTags("cached"); len(tags) != 1 || run.TagsDeleted < 2 {
		t.Errorf("the layer cache of a spec keeping 1: %v (run %+v)", tags, run)
	}
	if after := r.Server.BlobBytes(); after >= before || run.RegistryFreed < 3*2000000 {
		t.Errorf("the registry went from %d to %d bytes (run %+v)", before, after, run)
	}
}
