package db

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"imagebuilder/db/failure"
)

// Every reason comes back from the store as it went in: code, arguments,
// the tool's lines and the English message, on the job and on the list.
func TestFailureRoundTripsThroughTheStore(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	want := map[string]*failure.Failure{}
	for i, r := range append(failure.Reasons, failure.Other) {
		name := fmt.Sprintf("spec-%02d", i)
		_, j, err := d.CreateSpec(ctx, ImageSpec{Name: name, BaseImage: "busybox"}, "reg")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := d.ClaimNextJob(ctx); err != nil {
			t.Fatal(err)
		}
		f := &failure.Failure{Reason: r, Args: []string{"first, with a comma", `"quoted" 版號`}, Lines: []string{"E: the tool's line"},
			Message: "the " + string(r) + " failure"}
		if r == failure.Other {
			f.Args, f.Lines = nil, nil
		}
		status := StatusFailed
		if r == failure.Cancelled {
			status = StatusCancelled
		}
		if _, err := d.FinishJob(ctx, j.ID, JobOutcome{Status: status, Failure: f}); err != nil {
			t.Fatal(err)
		}
		got, err := d.GetJob(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Failure, f) {
			t.Errorf("%q: stored %+v, read back %+v", r, f, got.Failure)
		}
		want[name] = f
	}
	specs, err := d.ListSpecs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range specs {
		if !reflect.DeepEqual(s.Failure, want[s.Name]) {
			t.Errorf("list row %s: %+v, want %+v", s.Name, s.Failure, want[s.Name])
		}
	}
	// A success has no failure.
	_, j, _ := d.CreateSpec(ctx, ImageSpec{Name: "fine", BaseImage: "busybox"}, "reg")
	d.ClaimNextJob(ctx)
	d.FinishJob(ctx, j.ID, JobOutcome{Status: StatusSucceeded, Image: "reg/fine:1", Digest: "sha256:ab"})
	if got, _ := d.GetJob(ctx, j.ID); got.Failure != nil {
		t.Errorf("a success reads back a failure: %+v", got.Failure)
	}
}

// A store written before reason_lines keeps the tool's line as the last
// argument of a diagnosed failure (the third of step-failed); the upgrade
// moves it to the lines and leaves every other reason alone.
func TestUpgradeMovesTheToolsLineOutOfTheArguments(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	raw, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	names, _ := fs.Glob(migrations, "migrations/*.sql")
	sort.Strings(names)
	stmts := []string{`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`}
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		v, _ := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if v >= 18 {
			break
		}
		body, _ := migrations.ReadFile(name)
		stmts = append(stmts, string(body), fmt.Sprintf(`INSERT INTO schema_migrations VALUES (%d, '%s', 0)`, v, base))
	}
	stmts = append(stmts, `INSERT INTO specs (id, name, base_image, created_at, updated_at) VALUES (1, 'old', 'busybox', 0, 0)`)
	old := []struct{ reason, args string }{
		{"apt-package-not-found", `["nope","E: Unable to locate package nope"]`},
		{"apt-version-not-found", `["jq","0.0-x","E: Version '0.0-x' for 'jq' was not found"]`},
		{"pip-externally-managed", `["error: externally-managed-environment"]`},
		{"step-failed", `["apt","100","E: Sub-process returned an error code"]`},
		{"step-failed", `["pip","1",""]`},
		{"timeout", `["1h0m0s"]`},
		{"", `[]`},
		{"conda-not-found", `["nosuchpkg","PackagesNotFoundError: The following packages are not available"]`},
	}
	for i, o := range old {
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO jobs (spec_id, revision, snapshot, status, queued_at, updated_at, error, reason, reason_args)
			VALUES (1, %d, '{}', 'failed', 0, 0, 'english %d', '%s', '%s')`, i+1, i, o.reason, strings.ReplaceAll(o.args, "'", "''")))
	}
	for _, s := range stmts {
		if _, err := raw.Exec(s); err != nil {
			t.Fatalf("%v\n%s", err, s)
		}
	}
	raw.Close()
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	jobs, err := d.ListJobs(context.Background(), "old")
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]*failure.Failure{
		1: {Reason: "apt-package-not-found", Args: []string{"nope"}, Lines: []string{"E: Unable to locate package nope"}, Message: "english 0"},
		2: {Reason: "apt-version-not-found", Args: []string{"jq", "0.0-x"}, Lines: []string{"E: Version '0.0-x' for 'jq' was not found"}, Message: "english 1"},
		3: {Reason: "pip-externally-managed", Lines: []string{"error: externally-managed-environment"}, Message: "english 2"},
		4: {Reason: "step-failed", Args: []string{"apt", "100"}, Lines: []string{"E: Sub-process returned an error code"}, Message: "english 3"},
		5: {Reason: "step-failed", Args: []string{"pip", "1"}, Message: "english 4"},
		6: {Reason: "timeout", Args: []string{"1h0m0s"}, Message: "english 5"},
		7: {Message: "english 6"},
		8: {Reason: "conda-not-found", Lines: []string{"PackagesNotFoundError: The following packages are not available"}, Message: "english 7"},
	}
	if len(jobs) != len(want) {
		t.Fatalf("%d jobs after the upgrade", len(jobs))
	}
	for _, j := range jobs {
		if !reflect.DeepEqual(j.Failure, want[j.Revision]) {
			t.Errorf("revision %d: %+v, want %+v", j.Revision, j.Failure, want[j.Revision])
		}
	}
}

// A job's end and its webhook deliveries are one write: when recording a
// delivery fails, the job's end is not recorded either (the job stays
// Building, the server logs it, and a restart's recovery ends it), so
// neither is ever recorded without the other.
func TestAJobsEndIsNotRecordedWithoutItsDeliveries(t *testing.T) {
	d := openTest(t)
	ctx := context.Background()
	d.SetJobEndPayload(func(j Job) (string, string, bool) {
		return EventJobFailed, `{"job":` + strconv.FormatInt(j.ID, 10) + `}`, true
	})
	if _, err := d.CreateWebhook(ctx, Webhook{URL: "https://hooks.example.com/a", Sealed: []byte("s"), Events: []string{EventJobFailed}, CreatedBy: "admin"}); err != nil {
		t.Fatal(err)
	}
	_, job, err := d.CreateSpec(ctx, ImageSpec{Name: "one-write", BaseImage: "busybox"}, "registry.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := d.ClaimNextJob(ctx); !ok || err != nil {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if _, err := d.write.ExecContext(ctx, `CREATE TRIGGER no_deliveries BEFORE INSERT ON webhook_deliveries BEGIN SELECT RAISE(ABORT, 'deliveries refused'); END`); err != nil {
		t.Fatal(err)
	}
	out := JobOutcome{Status: StatusFailed, Failure: failure.New(failure.Timeout, "", "1s")}
	if _, err := d.FinishJob(ctx, job.ID, out); err == nil || !strings.Contains(err.Error(), "deliveries refused") {
		t.Fatalf("FinishJob with deliveries refused: %v", err)
	}
	if got, _ := d.GetJob(ctx, job.ID); got.Status != StatusBuilding {
		t.Fatalf("the job's end was recorded without its delivery: %s", got.Status)
	}
	if _, err := d.write.ExecContext(ctx, `DROP TRIGGER no_deliveries`); err != nil {
		t.Fatal(err)
	}
	if got, err := d.FinishJob(ctx, job.ID, out); err != nil || got.Status != StatusFailed {
		t.Fatalf("FinishJob: %+v %v", got, err)
	}
	if ds, _ := d.RecentDeliveries(ctx, 10); len(ds) != 1 || ds[0].JobID != job.ID {
		t.Fatalf("deliveries: %+v", ds)
	}
}
