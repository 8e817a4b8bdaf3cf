// Package dbtest fills an Image Builder database with generated data for
// tests and benchmarks in other packages. It holds SQL, so it lives in the
// db room; production code must not import it.
package dbtest

import (
	"database/sql"
	"fmt"

	// The SQLite driver, as the db package uses it.
	_ "github.com/mattn/go-sqlite3"

	"imagebuilder/db"
)

// SeedList opens (migrating) the database file at path and adds specs
// named spec-0001… with jobsPerSpec jobs each, in a mix of statuses (most
// recent succeeded, failed and cancelled), images on the succeeded ones.
func SeedList(path string, specs, jobsPerSpec int) error {
	d, err := db.Open(path)
	if err != nil {
		return err
	}
	if err := d.Close(); err != nil {
		return err
	}
	raw, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_busy_timeout=10000")
	if err != nil {
		return err
	}
	defer raw.Close()
	tx, err := raw.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	statuses := []db.Status{db.StatusSucceeded, db.StatusFailed, db.StatusSucceeded, db.StatusCancelled, db.StatusSucceeded}
	for s := 1; s <= specs; s++ {
		if _, err := tx.Exec(`INSERT INTO specs (id, name, base_image, created_at, updated_at) VALUES (?, ?, 'reg/library/busybox:latest', 0, 0)`,
			s, fmt.Sprintf("spec-%04d", s)); err != nil {
			return err
		}
		for r := 1; r <= jobsPerSpec; r++ {
			st := statuses[(s+r)%len(statuses)]
			image := ""
			if st == db.StatusSucceeded {
				image = fmt.Sprintf("reg/spec-%04d:%d", s, r)
			}
			if _, err := tx.Exec(`INSERT INTO jobs (spec_id, revision, snapshot, status, image, digest, queued_at, started_at, finished_at, updated_at)
				VALUES (?, ?, '{}', ?, ?, 'sha256:x', 0, 0, 1000, 1000)`, s, r, st, image); err != nil {
				return err
			}
		}
	}
	return tx.Commit()
}
