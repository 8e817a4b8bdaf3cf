package handlers

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"imagebuilder/builder/executor"
	"imagebuilder/builder/queue"
	"imagebuilder/builder/registry"
	"imagebuilder/db"
)

// instantExecutor builds nothing: it writes a few lines and succeeds at
// once, so the race between recording a job's outcome and ending its live
// feed shows up as often as it can.
type instantExecutor struct{}

func (instantExecutor) Run(_ context.Context, req executor.Request, log io.Writer) (executor.Outcome, error) {
	for i := 0; i < 3; i++ {
		fmt.Fprintf(log, "line %d of %s\n", i, req.Job.SpecName)
	}
	return executor.Outcome{Image: "reg/" + req.Job.SpecName + ":" + req.Tag, Digest: "sha256:ab", Size: 1}, nil
}
func (instantExecutor) Capabilities() executor.Capabilities { return executor.Capabilities{} }

func (instantExecutor) Recover(context.Context, []executor.Job) ([]executor.Recovery, error) {
	return nil, nil
}
func (instantExecutor) Attach(context.Context, executor.Job, io.Writer) (executor.Outcome, error) {
	return executor.Outcome{}, nil
}

// The live feed's end event names the job's final status: the outcome is
// recorded before the log closes. 100 of 100 runs.
func TestLiveFeedEndCarriesTheFinalStatus(t *testing.T) {
	var q *queue.Queue
	app, _ := newTestApp(t, true, func(d *Deps) {
		q = queue.New(d.DB, instantExecutor{}, d.Logs, queue.Config{Workers: 2,
			Registry: func(context.Context) (registry.Target, error) { return registry.Target{Host: "reg"}, nil }})
		d.Queue = q
	})
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Stop(context.Background()) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go app.Listener(ln)
	t.Cleanup(func() { app.Shutdown() })
	cl := signedIn(t, app)
	cookie := cl.cookies[sessionCookie]
	for i := 0; i < 100; i++ {
		_, job, err := q.Create(context.Background(), db.ImageSpec{Name: fmt.Sprintf("feed-%03d", i), BaseImage: "reg/base:1"})
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("GET", fmt.Sprintf("http://%s/jobs/%d/events", ln.Addr(), job.ID), nil)
		req.AddCookie(cookie)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		end, lines := "", 0
		sc := bufio.NewScanner(resp.Body)
		deadline := time.AfterFunc(10*time.Second, func() { resp.Body.Close() })
		for sc.Scan() {
			switch l := sc.Text(); {
			case l == "event: line":
				lines++
			case l == "event: end":
				sc.Scan()
				end = strings.TrimPrefix(sc.Text(), "data: ")
			}
		}
		deadline.Stop()
		resp.Body.Close()
		if end != string(db.StatusSucceeded) {
			t.Fatalf("run %d: end event %q after %d lines", i, end, lines)
		}
	}
}
