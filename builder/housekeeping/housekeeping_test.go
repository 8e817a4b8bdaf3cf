package housekeeping

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"imagebuilder/builder/engine"
	"imagebuilder/builder/engine/enginetest"
	"imagebuilder/builder/logs"
	"imagebuilder/builder/queue"
	"imagebuilder/builder/registry"
	"imagebuilder/db"
	"imagebuilder/db/dbtest"
)

func TestMain(m *testing.M) { enginetest.Main(m) }

// fakeAPTBase is busybox with a stand-in apt-get that writes 2 MB of
// random bytes for any install, so every APT line gives a layer of its own.
func fakeAPTBase(t *testing.T, r *enginetest.Rig) string {
	t.Helper()
	return r.Derived(t, "FROM "+r.Busybox(t)+"\n"+
		`RUN ["/bin/sh","-c","mkdir -p /usr/bin && printf '#!/bin/sh\\ncase \" $* \" in *\" install \"*) head -c 2000000 /dev/urandom > /installed;; esac\\n' > /usr/bin/apt-get && chmod +x /usr/bin/apt-get"]`+"\n",
		r.Target.Host+"/library/fake-apt:1")
}

// skopeo copies ref out of the registry (every blob), as a pull would.
func skopeo(t *testing.T, ref string) error {
	t.Helper()
	out, err := exec.Command("skopeo", "copy", "--src-tls-verify=false", "docker://"+ref, "dir:"+t.TempDir()).CombinedOutput()
	if err != nil {
		return &pullError{string(out)}
	}
	return nil
}

type pullError struct{ out string }

func (e *pullError) Error() string { return e.out }

func TestRetentionDeletesTagsAndGarbageCollectionFreesTheRegistry(t *testing.T) {
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
	keeper := &Keeper{DB: store, Logs: logStore, Registry: r.Server, RegistryHost: r.Target.Host,
		Default: func(context.Context) (db.Retention, error) { return db.Retention{}, nil }}
	q := queue.New(store, r.Engine, logStore, queue.Config{Workers: 1, Timeout: 5 * time.Minute, Reuse: r.Images, Inventory: r.Images,
		Registry: func(context.Context) (registry.Target, error) { return r.Target, nil }, Hooks: queue.HookFuncs{OnSpecDeleted: keeper.ForgetSpec}})
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer q.Stop(context.Background())
	ctx := context.Background()
	wait := func(j db.Job) db.Job {
		t.Helper()
		return dbtest.WaitJob(t, store, j.ID, 2*time.Minute, nil, db.StatusSucceeded)
	}
	fakeAPT := fakeAPTBase(t, r)
	// Six revisions of "keep", each its own image.
	var revs []db.Job
	for i := 1; i <= 6; i++ {
		s := db.ImageSpec{Name: "keep", BaseImage: fakeAPT, APT: []string{fmt.Sprintf("package%d", i)}}
		save := q.Update
		if i == 1 {
			save = q.Create
		}
		_, j, err := save(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, wait(j))
	}
	if err := q.Activate(ctx, "keep", revs[1].ID); err != nil { // revision 2 pinned
		t.Fatal(err)
	}
	if err := store.SetSpecRetention(ctx, "keep", &db.Retention{KeepSucceeded: 2}); err != nil {
		t.Fatal(err)
	}
	_, g, err := q.Create(ctx, db.ImageSpec{Name: "gone", BaseImage: fakeAPT, APT: []string{"anything"}})
	if err != nil {
		t.Fatal(err)
	}
	g = wait(g)
	before := r.Server.BlobBytes()

	run, err := keeper.Run(ctx, TriggerButton)
	if err != nil {
		t.Fatal(err)
	}
	// Kept: 6 and 5 (the newest two), 2 (active). Deleted: 1, 3, 4.
	if run.JobsDeleted != 3 || run.TagsDeleted != 3 || run.BlobsDeleted < 9 || run.RegistryFreed < 3*2000000 {
		t.Fatalf("run %+v", run)
	}
	left, _ := store.ListJobs(ctx, "keep")
	if len(left) != 3 || left[0].Revision != 6 || left[1].Revision != 5 || left[2].Revision != 2 {
		t.Fatalf("kept %+v", left)
	}
	for _, rev := range []int{1, 3, 4} {
		if err := skopeo(t, revs[rev-1].Image); err == nil {
			t.Errorf("the deleted revision %d still pulls", rev)
		}
		if _, err := os.Stat(logStore.Path(revs[rev-1].ID)); !os.IsNotExist(err) {
			t.Errorf("the log of revision %d is still there", rev)
		}
		if _, ok, _ := store.GetInventory(ctx, revs[rev-1].ID); ok {
			t.Errorf("the inventory of revision %d is still there", rev)
		}
	}
	for _, rev := range []int{2, 5, 6} {
		if err := skopeo(t, revs[rev-1].Image); err != nil {
			t.Errorf("the kept revision %d does not pull: %v", rev, err)
		}
	}
	if runs, err := store.HousekeepingRuns(ctx, 10); err != nil || len(runs) != 1 || runs[0].JobsDeleted != 3 || runs[0].Trigger != TriggerButton {
		t.Fatalf("recorded runs %+v (%v)", runs, err)
	}

	// Deleting "gone" and collecting frees its own layer; the rest pulls.
	mid := r.Server.BlobBytes()
	if err := q.Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	run, err = keeper.Run(ctx, TriggerButton)
	if err != nil {
		t.Fatal(err)
	}
	after := r.Server.BlobBytes()
	t.Logf("registry blobs: %d bytes before, %d after retention, %d after deleting a spec (%d blobs)", before, mid, after, run.BlobsDeleted)
	if mid-after < 2000000 || run.BlobsDeleted < 3 || run.RegistryFreed != mid-after {
		t.Fatalf("deleting gone freed %d bytes in %d blobs (run %+v), want its 2 MB layer, config and manifest", mid-after, run.BlobsDeleted, run)
	}
	if err := skopeo(t, g.Image); err == nil {
		t.Error("the deleted spec's image still pulls")
	}
	if err := skopeo(t, fakeAPT); err != nil {
		t.Fatalf("the base image no longer pulls: %v", err)
	}
	for _, rev := range []int{2, 5, 6} {
		if err := skopeo(t, revs[rev-1].Image); err != nil {
			t.Errorf("revision %d does not pull after the second collection: %v", rev, err)
		}
	}
}

// Pruning the image store past its bound keeps the latest revision's
// image and its layer cache, and removes an older revision's.
func TestBuildStoragePruneKeepsTheLatestRevisionsCache(t *testing.T) {
	r := enginetest.Get(t)
	base := fakeAPTBase(t, r)
	build := func(line, tag string) string {
		t.Helper()
		var log strings.Builder
		if _, err := r.Engine.Build(context.Background(), engine.BuildRequest{Spec: db.ImageSpec{Name: "prune", BaseImage: base, APT: []string{line}},
			Tag: tag, Registry: r.Target, Log: &log}); err != nil {
			t.Fatal(err)
		}
		return log.String()
	}
	build("old-package", "1")
	build("new-package", "2")
	rep, err := r.Engine.PruneStorage([]string{r.Target.Host + "/prune:2", base}, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("image store: %d bytes before, %d after, %d images removed", rep.Before, rep.After, rep.Images)
	if rep.Images == 0 || rep.Before-rep.After < 2000000 {
		t.Fatalf("prune %+v freed less than the old revision's 2 MB layer", rep)
	}
	if log := build("new-package", "3"); !strings.Contains(log, "Using cache") {
		t.Fatalf("the latest revision lost its layer cache:\n%s", log)
	}
	if log := build("old-package", "4"); strings.Contains(log, "Using cache") {
		t.Fatalf("the old revision's layers outlived the prune:\n%s", log)
	}
	// Under its bound, nothing is removed.
	if rep, err := r.Engine.PruneStorage(nil, 1<<50); err != nil || rep.Images != 0 {
		t.Fatalf("a store under its bound was pruned: %+v %v", rep, err)
	}
}
