package handlers

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"imagebuilder/builder/spec"
	"imagebuilder/db"
	"imagebuilder/views"
)

// TailLines is how many log lines the job page shows.
const TailLines = 2000

func (h *handler) jobFromParam(c *fiber.Ctx) (db.Job, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return db.Job{}, fiber.NewError(fiber.StatusNotFound, "build job "+c.Params("id")+" does not exist")
	}
	return h.DB.GetJob(c.UserContext(), id)
}

func (h *handler) viewJob(c *fiber.Ctx) error {
	j, err := h.jobFromParam(c)
	if err != nil {
		return err
	}
	lines, _, end, err := h.Logs.Tail(j.ID, TailLines)
	if err != nil {
		return err
	}
	l := h.layout(c, "", "builder")
	l.Title = l.Loc.T("job.title", j.SpecName, j.Revision)
	v := views.JobView{
		Layout: l, ID: j.ID, SpecName: j.SpecName, Revision: j.Revision, Status: string(j.Status), Failure: j.Failure,
		QueuedAt: j.QueuedAt, StartedAt: j.StartedAt, FinishedAt: j.FinishedAt,
		Image: j.Image, Digest: j.Digest, Size: j.Size, RetryOf: j.RetryOf,
		SnapshotBase: j.Snapshot.BaseImage, SnapshotPullSecret: j.Snapshot.PullSecret,
		SnapshotAPT: j.Snapshot.APT, SnapshotConda: j.Snapshot.Conda, SnapshotPip: j.Snapshot.Pip,
		Lines: lines, Cursor: end,
		CanCancel:   !j.Status.Finished(),
		CanRebuild:  j.Status == db.StatusSucceeded,
		RequestedBy: j.RequestedBy, CancelledBy: j.CancelledBy,
		CanRetry:   j.Status == db.StatusFailed || j.Status == db.StatusCancelled,
		Sources:    sourceLines(j.Sources),
		LogRemoved: j.LogRemoved,
	}
	if j.ReusedFrom != 0 {
		v.ReusedFrom = j.ReusedFrom
		if from, err := h.DB.GetJob(c.UserContext(), j.ReusedFrom); err == nil {
			v.ReusedRevision = from.Revision
		}
	}
	if j.Status == db.StatusSucceeded {
		if v.Inventory, err = h.inventoryView(c.UserContext(), j, c.Query("q"), c.Query("type")); err != nil {
			return err
		}
	}
	if v.CanRetry {
		// Only the spec's latest job can be retried.
		jobs, err := h.DB.ListJobs(c.UserContext(), j.SpecName)
		if err != nil {
			return err
		}
		v.CanRetry = len(jobs) > 0 && jobs[0].ID == j.ID
	}
	return render(c, fiber.StatusOK, l, views.JobViewContent(v))
}

// downloadLog streams the whole log file.
func (h *handler) downloadLog(c *fiber.Ctx) error {
	j, err := h.jobFromParam(c)
	if err != nil {
		return err
	}
	f, err := os.Open(h.Logs.Path(j.ID))
	if os.IsNotExist(err) {
		return fiber.NewError(fiber.StatusNotFound, fmt.Sprintf("revision %d of %s has no log yet", j.Revision, j.SpecName))
	}
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	c.Set(fiber.HeaderContentType, "text/plain; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="%s-revision-%d-job-%d.log"`, j.SpecName, j.Revision, j.ID))
	c.Set(fiber.HeaderCacheControl, "no-store")
	// Fiber streams the reader and closes it; the size is known up front.
	return c.SendStream(f, int(st.Size()))
}

// jobEvents is the live log feed over Server-Sent Events. Each line is an
// event "line" whose id is the byte offset after it, so a reconnecting
// EventSource resumes with Last-Event-ID; "end" closes the feed with the
// final status; a comment every 15 s keeps proxies from closing it.
func (h *handler) jobEvents(c *fiber.Ctx) error {
	j, err := h.jobFromParam(c)
	if err != nil {
		return err
	}
	from, _ := strconv.ParseInt(c.Query("from"), 10, 64)
	if id := c.Get("Last-Event-ID"); id != "" {
		if v, err := strconv.ParseInt(id, 10, 64); err == nil {
			from = v
		}
	}
	if from < 0 {
		from = 0
	}
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderConnection, "keep-alive")
	c.Set("X-Accel-Buffering", "no")
	jobID := j.ID
	store, logs, done := h.DB, h.Logs, h.Done
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-done: // server shutting down
				cancel()
			case <-ctx.Done():
			}
		}()
		type event struct {
			line []byte
			next int64
		}
		events := make(chan event, 256)
		followed := make(chan struct{})
		go func() {
			defer close(followed)
			finished := func() bool {
				job, err := store.GetJob(ctx, jobID)
				return err != nil || job.Status.Finished()
			}
			_ = logs.Follow(ctx, jobID, from, finished, func(line []byte, next int64) error {
				select {
				case events <- event{append([]byte(nil), line...), next}:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			})
		}()
		send := func(ev event) {
			fmt.Fprintf(w, "id: %d\nevent: line\ndata: %s\n\n", ev.next, strings.ReplaceAll(string(ev.line), "\r", ""))
		}
		drain := func() {
			for {
				select {
				case ev := <-events:
					send(ev)
				default:
					return
				}
			}
		}
		ping := time.NewTicker(15 * time.Second)
		defer ping.Stop()
		fmt.Fprint(w, "retry: 2000\n\n")
		if w.Flush() != nil {
			return
		}
		for {
			select {
			case ev := <-events:
				send(ev)
				drain() // send what has piled up before flushing
				if w.Flush() != nil {
					return // the client went away
				}
			case <-ping.C:
				fmt.Fprint(w, ": ping\n\n")
				if w.Flush() != nil {
					return
				}
			case <-followed:
				drain() // what the follower queued, then how it ended
				if ctx.Err() == nil {
					status := ""
					if job, err := store.GetJob(context.Background(), jobID); err == nil {
						status = string(job.Status)
					}
					fmt.Fprintf(w, "event: end\ndata: %s\n\n", status)
				}
				_ = w.Flush()
				return
			}
		}
	})
	return nil
}

func (h *handler) cancelJob(c *fiber.Ctx) error {
	j, err := h.jobFromParam(c)
	if err != nil {
		return err
	}
	if _, err := h.Queue.Cancel(c.UserContext(), j.ID); err != nil {
		return err
	}
	if c.FormValue("from") == "builds" {
		return redirectAfterPost(c, "/builds")
	}
	return redirectAfterPost(c, fmt.Sprintf("/jobs/%d", j.ID))
}

// buildsPage lists every build that runs or waits, across specs: the
// running ones first, then the queue in the order it will run.
func (h *handler) buildsPage(c *fiber.Ctx) error {
	ctx := c.UserContext()
	building, err := h.DB.JobsWithStatus(ctx, db.StatusBuilding)
	if err != nil {
		return err
	}
	pending, err := h.DB.JobsWithStatus(ctx, db.StatusPending)
	if err != nil {
		return err
	}
	l := h.layout(c, "", "queue")
	l.Title = l.Loc.T("queue.title")
	v := views.BuildsPage{Layout: l, Now: time.Now(), Workers: h.Workers}
	for i, j := range append(building, pending...) {
		row := views.QueueRow{ID: j.ID, Spec: j.SpecName, Revision: j.Revision, Status: string(j.Status), QueuedAt: j.QueuedAt,
			StartedAt: j.StartedAt, RequestedBy: j.RequestedBy}
		if j.Status == db.StatusPending {
			row.Position = i - len(building) + 1
		}
		v.Rows = append(v.Rows, row)
	}
	return render(c, fiber.StatusOK, l, views.BuildsContent(v))
}

func (h *handler) retryJob(c *fiber.Ctx) error {
	return h.enqueueAgain(c, h.Queue.Retry)
}

func (h *handler) rebuildJob(c *fiber.Ctx) error {
	return h.enqueueAgain(c, h.Queue.Rebuild)
}

func (h *handler) enqueueAgain(c *fiber.Ctx, enqueue func(context.Context, int64) (db.Job, error)) error {
	j, err := h.jobFromParam(c)
	if err != nil {
		return err
	}
	nj, err := enqueue(c.UserContext(), j.ID)
	if err != nil {
		return err
	}
	return redirectAfterPost(c, fmt.Sprintf("/jobs/%d", nj.ID))
}

// sourceLines turns a job's recorded package sources (JSON, credentials
// masked) into labelled lines for its page.
func sourceLines(recorded string) []views.SourceLine {
	var s spec.Sources
	if recorded == "" || json.Unmarshal([]byte(recorded), &s) != nil {
		return nil
	}
	var out []views.SourceLine
	add := func(key string, values ...string) {
		for _, v := range values {
			if v != "" {
				out = append(out, views.SourceLine{Key: key, Value: v})
			}
		}
	}
	add("jobsrc.pip.index", s.PipIndexURL)
	add("jobsrc.pip.extra", s.PipExtraIndexURLs...)
	add("jobsrc.pip.trusted", s.PipTrustedHosts...)
	add("jobsrc.conda.channel", s.CondaChannels...)
	if s.CondaOverride {
		add("jobsrc.conda.override", "--override-channels")
	}
	add("jobsrc.apt.source", s.APTSource)
	if s.APTKey != "" {
		add("jobsrc.apt.key", "-----BEGIN PGP PUBLIC KEY BLOCK-----")
	}
	return out
}
