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
		{"pip-managed", `[]`},
		{"step-failed", `["apt","100","E: Sub-process returned an error code"]`},
		{"step-failed", `["pip","1",""]`},
		{"timeout", `["1h0m0s"]`},
		{"", `[]`},
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
		3: {Reason: "pip-managed", Message: "english 2"},
		4: {Reason: "step-failed", Args: []string{"apt", "100"}, Lines: []string{"E: Sub-process returned an error code"}, Message: "english 3"},
		5: {Reason: "step-failed", Args: []string{"pip", "1"}, Message: "english 4"},
		6: {Reason: "timeout", Args: []string{"1h0m0s"}, Message: "english 5"},
		7: {Message: "english 6"},
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
