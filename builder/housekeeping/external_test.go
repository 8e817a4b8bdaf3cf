package housekeeping

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"imagebuilder/builder/engine/enginetest"
	"imagebuilder/builder/logs"
	"imagebuilder/builder/queue"
	"imagebuilder/builder/registry"
	"imagebuilder/db"
	"imagebuilder/db/dbtest"
)

// An external registry's revision tags stay when retention deletes their
// jobs, until the administrator allows deleting them; then retention and
// spec deletion delete exactly their own tags there, with the push
// credentials.
func TestExternalRegistryTagsAreDeletedOnlyWhenAllowed(t *testing.T) {
	r := enginetest.Get(t)
	ctx := context.Background()
	dir := t.TempDir()
	ext := enginetest.PasswordRegistry(t, "pusher", "s3cret")
	for _, told := range []interface{ SetInsecureRegistries(...string) error }{r.Engine, r.Images} {
		if err := told.SetInsecureRegistries(r.Server.Host(), ext.Host()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = told.SetInsecureRegistries(r.Server.Host()) })
	}
	target := registry.Target{Host: ext.Host() + "/team", Username: "pusher", Password: "s3cret", Insecure: true}

	store, err := db.Open(filepath.Join(dir, "imagebuilder.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	logStore, err := logs.NewStore(filepath.Join(dir, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	allowed := false
	keeper := &Keeper{DB: store, Logs: logStore,
		Default:  func(context.Context) (db.Retention, error) { return db.Retention{}, nil },
		External: func(context.Context) (registry.Target, bool, error) { return target, allowed, nil }}
	q := queue.New(store, r.Engine, logStore, queue.Config{Workers: 1, Timeout: 5 * time.Minute,
		Registry: func(context.Context) (registry.Target, error) { return target, nil }, Hooks: queue.HookFuncs{OnSpecDeleted: keeper.ForgetSpec}})
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer q.Stop(ctx)
	fakeAPT := fakeAPTBase(t, r)
	var revs []db.Job
	for i := 1; i <= 4; i++ {
		save := q.Update
		if i == 1 {
			save = q.Create
		}
		_, j, err := save(ctx, db.ImageSpec{Name: "ext", BaseImage: fakeAPT, APT: []string{fmt.Sprintf("package%d", i)}})
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, waitSucceeded(t, store, j))
	}
	pulls := func(rev int) bool {
		out, err := exec.Command("skopeo", "inspect", "--tls-verify=false", "--creds", "pusher:s3cret", "docker://"+revs[rev-1].Image).CombinedOutput()
		if err != nil {
			t.Logf("revision %d: %s", rev, out)
		}
		return err == nil
	}
	for rev := 1; rev <= 4; rev++ {
		if revs[rev-1].Registry != target.Host || !pulls(rev) {
			t.Fatalf("revision %d was not pushed to the external registry: %+v", rev, revs[rev-1])
		}
	}

	// Not allowed (the default): the job goes, its tag stays.
	if err := store.SetSpecRetention(ctx, "ext", &db.Retention{KeepSucceeded: 3}); err != nil {
		t.Fatal(err)
	}
	run, err := keeper.Run(ctx, TriggerButton)
	if err != nil || run.JobsDeleted != 1 || run.TagsDeleted != 0 {
		t.Fatalf("run %+v (%v), want revision 1's job deleted and no tag", run, err)
	}
	if !pulls(1) {
		t.Fatal("revision 1's external tag was deleted although deleting external tags is off")
	}

	// Allowed: the next deleted revision's tag goes, the kept ones stay.
	allowed = true
	if err := store.SetSpecRetention(ctx, "ext", &db.Retention{KeepSucceeded: 2}); err != nil {
		t.Fatal(err)
	}
	run, err = keeper.Run(ctx, TriggerButton)
	if err != nil || run.JobsDeleted != 1 || run.TagsDeleted != 1 {
		t.Fatalf("run %+v (%v), want revision 2's job and tag deleted", run, err)
	}
	if pulls(2) {
		t.Fatal("revision 2's external tag survived its deletion")
	}
	if !pulls(3) || !pulls(4) || !pulls(1) {
		t.Fatal("deleting revision 2's tag took another tag with it")
	}

	// Deleting the spec deletes the tags of its remaining revisions.
	if err := q.Delete(ctx, "ext"); err != nil {
		t.Fatal(err)
	}
	if pulls(3) || pulls(4) {
		t.Fatal("the deleted spec's external tags survived")
	}
	if !pulls(1) {
		t.Fatal("a tag housekeeping no longer knows of was deleted")
	}

	// Refused credentials are named as such.
	bad := target
	bad.Password = "wrong"
	if err := registry.DeleteTag(ctx, bad, revs[0].Image); err == nil || !strings.Contains(err.Error(), "refused to delete") {
		t.Fatalf("deleting with a wrong password: %v", err)
	}
}

// waitSucceeded waits for j to succeed.
func waitSucceeded(t *testing.T, store *db.DB, j db.Job) db.Job {
	t.Helper()
	return dbtest.WaitJob(t, store, j.ID, 2*time.Minute, nil, db.StatusSucceeded)
}
