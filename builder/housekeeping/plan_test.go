package housekeeping

import (
	"slices"
	"testing"
	"time"

	"imagebuilder/db"
)

func revisions(jobs []db.Job) []int {
	var out []int
	for _, j := range jobs {
		out = append(out, j.Revision)
	}
	slices.Sort(out)
	return out
}

// Thirty jobs of one spec, newest first: every third failed, revision 2
// pinned active, revision 29 reused revision 5's image, revision 30 still
// building.
func TestPlanKeepsExactlyWhatThePolicySays(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var jobs []db.Job
	for rev := 30; rev >= 1; rev-- {
		j := db.Job{ID: int64(100 + rev), Revision: rev, Status: db.StatusSucceeded, FinishedAt: now.Add(-time.Duration(31-rev) * 24 * time.Hour)}
		if rev%3 == 0 {
			j.Status = db.StatusFailed
		}
		if rev == 30 {
			j.Status, j.FinishedAt = db.StatusBuilding, time.Time{}
		}
		if rev == 29 {
			j.ReusedFrom = 105
		}
		jobs = append(jobs, j)
	}
	del, logs := Plan(jobs, db.Retention{KeepSucceeded: 5, KeepFailed: 2, LogDays: 10}, 102, now)
	// Succeeded, newest first: 29 28 26 25 23 | 22 20 19 17 16 14 13 11 10 8 7 5 4 2 1;
	// failed: 27 24 | 21 18 15 12 9 6 3. Kept beyond the counts: 2 (active), 5 (reused by 29).
	want := []int{1, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22}
	if got := revisions(del); !slices.Equal(got, want) {
		t.Fatalf("deleted %v, want %v", got, want)
	}
	// Logs older than ten days of what is kept: revisions 2 and 5 (29 and
	// 26 days old), not the young ones, not the one still building.
	if got := revisions(logs); !slices.Equal(got, []int{2, 5}) {
		t.Fatalf("logs removed %v", got)
	}
	// Zero keeps everything.
	if del, logs := Plan(jobs, db.Retention{}, 0, now); len(del)+len(logs) != 0 {
		t.Fatalf("the empty policy deleted %v and %v", revisions(del), revisions(logs))
	}
	// A reuse chain protects every link: 29 reused 5, and 5 reused 1.
	jobs[len(jobs)-5].ReusedFrom = 101
	del, _ = Plan(jobs, db.Retention{KeepSucceeded: 5, KeepFailed: 2}, 102, now)
	if slices.Contains(revisions(del), 1) {
		t.Fatalf("revision 1, whose image revision 5 reused, was deleted: %v", revisions(del))
	}
}
