package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"imagebuilder/db/failure"
)

func openTest(t testing.TB) *DB {
	t.Helper()
	d, err := Open(filepath.Join(t.TempDir(), "imagebuilder.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestCanTransition(t *testing.T) {
	allowed := map[[2]Status]bool{
		{StatusPending, StatusBuilding}:   true,
		{StatusPending, StatusCancelled}:  true,
		{StatusBuilding, StatusSucceeded}: true,
		{StatusBuilding, StatusFailed}:    true,
		{StatusBuilding, StatusCancelled}: true,
	}
	for _, from := range Statuses {
		for _, to := range Statuses {
			if got := CanTransition(from, to); got != allowed[[2]Status{from, to}] {
				t.Errorf("CanTransition(%s, %s) = %v", from, to, got)
			}
		}
	}
}

func TestSpecLifecycleRevisionsAndListStatus(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	spec := ImageSpec{Name: "demo", BaseImage: "busybox", APT: []string{"jq"}}
	s, j1, err := d.CreateSpec(ctx, spec, "reg:5000")
	if err != nil {
		t.Fatal(err)
	}
	if j1.Revision != 1 || j1.Status != StatusPending || j1.Registry != "reg:5000" || s.ID == 0 {
		t.Fatalf("first job %+v", j1)
	}
	if _, _, err := d.CreateSpec(ctx, spec, "reg:5000"); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate name: %v", err)
	}
	got, _ := d.GetSpec(ctx, "demo")
	if got.BaseImage != "busybox" || len(got.APT) != 1 || got.Conda != nil {
		t.Fatalf("GetSpec = %+v", got)
	}

	claimed, ok, err := d.ClaimNextJob(ctx)
	if err != nil || !ok || claimed.ID != j1.ID || claimed.Status != StatusBuilding || claimed.StartedAt.IsZero() {
		t.Fatalf("claim: %+v %v %v", claimed, ok, err)
	}
	if _, err := d.FinishJob(ctx, j1.ID, JobOutcome{Status: StatusSucceeded, Image: "reg:5000/demo:1", Digest: "sha256:1", Size: 10}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.FinishJob(ctx, j1.ID, JobOutcome{Status: StatusFailed}); !errors.Is(err, ErrConflict) {
		t.Fatalf("succeeded → failed allowed: %v", err)
	}

	spec.Pip = []string{"requests"}
	_, j2, err := d.UpdateSpec(ctx, spec, "reg:5000")
	if err != nil || j2.Revision != 2 {
		t.Fatalf("update: %+v %v", j2, err)
	}
	list, err := d.ListSpecs(ctx)
	if err != nil || len(list) != 1 {
		t.Fatal(list, err)
	}
	// Status is the latest job's; Image is the latest succeeded one's.
	if list[0].Status != StatusPending || list[0].Image != "reg:5000/demo:1" || list[0].LatestRevision != 2 {
		t.Fatalf("summary %+v", list[0])
	}
	jobs, _ := d.ListJobs(ctx, "demo")
	if len(jobs) != 2 || jobs[0].Revision != 2 || jobs[1].Snapshot.Pip != nil || jobs[0].Snapshot.Pip[0] != "requests" {
		t.Fatalf("jobs newest first with their own snapshots: %+v", jobs)
	}
	if _, _, err := d.UpdateSpec(ctx, ImageSpec{Name: "nope", BaseImage: "x"}, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update missing: %v", err)
	}
}

func TestNewRevisionSupersedesPendingJobsOnly(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	spec := ImageSpec{Name: "s", BaseImage: "busybox"}
	_, j1, _ := d.CreateSpec(ctx, spec, "")
	if _, _, err := d.ClaimNextJob(ctx); err != nil { // j1 now Building
		t.Fatal(err)
	}
	_, j2, _ := d.UpdateSpec(ctx, spec, "")
	_, j3, _ := d.UpdateSpec(ctx, spec, "")
	got1, _ := d.GetJob(ctx, j1.ID)
	got2, _ := d.GetJob(ctx, j2.ID)
	got3, _ := d.GetJob(ctx, j3.ID)
	if got1.Status != StatusBuilding {
		t.Errorf("the running job was touched: %s", got1.Status)
	}
	if got2.Status != StatusCancelled || got2.Failure.Text() != "superseded by revision 3" || got2.Failure.Code() != failure.Superseded ||
		len(got2.Failure.Args) != 1 || got2.Failure.Args[0] != "3" || got2.FinishedAt.IsZero() {
		t.Errorf("revision 2: %s %+v", got2.Status, got2.Failure)
	}
	if got3.Status != StatusPending {
		t.Errorf("revision 3: %s", got3.Status)
	}
}

func TestRetryCancelAndInterrupted(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	spec := ImageSpec{Name: "r", BaseImage: "busybox", APT: []string{"curl"}}
	_, j1, _ := d.CreateSpec(ctx, spec, "reg")
	if _, err := d.RetryJob(ctx, j1.ID, "reg"); !errors.Is(err, ErrConflict) {
		t.Fatalf("retry of a pending job: %v", err)
	}
	if _, err := d.CancelPendingJob(ctx, j1.ID, failure.New(failure.Cancelled, "cancelled by admin")); err != nil {
		t.Fatal(err)
	}
	j2, err := d.RetryJob(ctx, j1.ID, "reg2")
	if err != nil {
		t.Fatal(err)
	}
	if j2.Revision != 2 || j2.RetryOf != j1.ID || j2.Snapshot.APT[0] != "curl" || j2.Registry != "reg2" {
		t.Fatalf("retry job %+v", j2)
	}
	if _, err := d.RetryJob(ctx, j1.ID, "reg"); !errors.Is(err, ErrConflict) {
		t.Fatalf("retry of an older revision: %v", err)
	}
	if _, _, err := d.ClaimNextJob(ctx); err != nil {
		t.Fatal(err)
	}
	// What recovery does with a job a dead process left Building.
	building, err := d.JobsWithStatus(ctx, StatusBuilding)
	if err != nil || len(building) != 1 || building[0].ID != j2.ID {
		t.Fatalf("building: %+v %v", building, err)
	}
	if _, err := d.FinishJob(ctx, j2.ID, JobOutcome{Status: StatusFailed, Failure: failure.New(failure.Interrupted, "interrupted by server restart")}); err != nil {
		t.Fatal(err)
	}
	got, _ := d.GetJob(ctx, j2.ID)
	if got.Status != StatusFailed || got.Failure.Text() != "interrupted by server restart" || got.Failure.Code() != failure.Interrupted {
		t.Fatalf("after recovery: %+v", got)
	}
	if _, ok, _ := d.ClaimNextJob(ctx); ok {
		t.Fatal("a job was still pending")
	}
}

func TestDeleteSpecRemovesJobsButNotWhileBuilding(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	_, j, _ := d.CreateSpec(ctx, ImageSpec{Name: "gone", BaseImage: "busybox"}, "")
	d.ClaimNextJob(ctx)
	if err := d.DeleteSpec(ctx, "gone"); !errors.Is(err, ErrConflict) {
		t.Fatalf("delete while building: %v", err)
	}
	d.FinishJob(ctx, j.ID, JobOutcome{Status: StatusCancelled, Failure: failure.New(failure.Cancelled, "x")})
	if err := d.DeleteSpec(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.GetJob(ctx, j.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("job survived its spec: %v", err)
	}
	if err := d.DeleteSpec(ctx, "gone"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func TestConcurrentEditsGiveGapFreeUniqueRevisions(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	spec := ImageSpec{Name: "busy", BaseImage: "busybox"}
	if _, _, err := d.CreateSpec(ctx, spec, ""); err != nil {
		t.Fatal(err)
	}
	const workers, edits = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*edits)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < edits; i++ {
				s := spec
				s.Pip = []string{fmt.Sprintf("pkg%d-%d", w, i)}
				if _, _, err := d.UpdateSpec(ctx, s, ""); err != nil {
					errs <- err
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	jobs, _ := d.ListJobs(ctx, "busy")
	revs := make([]int, len(jobs))
	pending := 0
	for i, j := range jobs {
		revs[i] = j.Revision
		if j.Status == StatusPending {
			pending++
		}
	}
	sort.Ints(revs)
	if len(revs) != 1+workers*edits {
		t.Fatalf("%d jobs", len(revs))
	}
	for i, r := range revs {
		if r != i+1 {
			t.Fatalf("revisions not gap-free: %v", revs)
		}
	}
	if pending != 1 || jobs[0].Status != StatusPending {
		t.Fatalf("want only the newest revision pending, got %d pending", pending)
	}
}

func TestOlderDatabaseUpgradesInPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	raw, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := migrations.ReadFile("migrations/0001_init.sql")
	for _, stmt := range []string{
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`,
		string(first),
		`INSERT INTO schema_migrations VALUES (1, '0001_init.sql', 0)`,
		`INSERT INTO specs (name, base_image, created_at, updated_at) VALUES ('kept', 'busybox', 0, 0)`,
	} {
		if _, err := raw.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	v, _ := d.SchemaVersion(context.Background())
	if v < 2 {
		t.Fatalf("schema version %d", v)
	}
	if _, err := d.GetSpec(context.Background(), "kept"); err != nil {
		t.Fatalf("data lost in upgrade: %v", err)
	}
	if _, err := d.ListBaseImages(context.Background()); err != nil {
		t.Fatalf("new table missing: %v", err)
	}
}

func TestBaseImages(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	b, err := d.SaveBaseImage(ctx, BaseImage{Name: "Debian", Reference: "r/debian:bookworm"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.SaveBaseImage(ctx, BaseImage{Name: "dup", Reference: "r/debian:bookworm"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate reference: %v", err)
	}
	if err := d.UpsertBaseImageByReference(ctx, BaseImage{Name: "Debian 12", Reference: "r/debian:bookworm"}); err != nil {
		t.Fatal(err)
	}
	list, _ := d.ListBaseImages(ctx)
	if len(list) != 1 || list[0].Name != "Debian 12" {
		t.Fatalf("%+v", list)
	}
	if err := d.DeleteBaseImage(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
}
