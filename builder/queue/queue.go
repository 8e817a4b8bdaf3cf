// Package queue runs build jobs: the jobs table is the queue, a pool of
// workers takes Pending jobs oldest first and hands each to an
// executor.Executor, records how it ended (with a reason a person can
// read), and at start-up recovers the builds of an earlier process through
// the executor. It talks to builds only through package executor and
// knows nothing of HTTP.
//
// queue.go claims, runs, recovers and records; each operation on a
// spec's revisions is a file of its own: create.go (create, edit, save),
// retry.go (retry, rebuild), cancel.go, delete.go, alias.go (the active
// revision and its alias tag), basecheck.go (base image updates),
// reuse.go (an identical build's image retagged) and inventory.go (what a
// build installed). Why a build failed is package diagnosis's.
package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"imagebuilder/builder/diagnosis"
	"imagebuilder/builder/executor"
	"imagebuilder/builder/logs"
	"imagebuilder/builder/plan"
	"imagebuilder/builder/registry"
	"imagebuilder/builder/spec"
	"imagebuilder/db"
	"imagebuilder/db/failure"
)

// Config configures the job queue.
type Config struct {
	// Workers is how many builds run at once (default 1).
	Workers int
	// Timeout fails a build that runs longer (default 1 hour).
	Timeout time.Duration
	// Registry returns where new jobs push, with credentials.
	Registry func(ctx context.Context) (registry.Target, error)
	// PullSecret returns the Docker config JSON of a named pull secret.
	PullSecret func(ctx context.Context, name string) ([]byte, error)
	// Sources returns the package sources new builds use (nil: none).
	Sources func(ctx context.Context) (spec.Sources, error)
	// Reuse, when set, spares building a spec whose content an earlier
	// revision built (nil: every job builds).
	Reuse Reuser
	// Inventory, when set, reads what every succeeded job's image holds
	// (nil: no inventory is taken).
	Inventory Inventorier
	// Limits returns the limits new builds' steps get (nil: none).
	Limits func(ctx context.Context) (executor.Limits, error)
	// Log gets a line per job state change; nil discards them.
	Log *slog.Logger
	// SilenceTimeout fails a build whose output stays silent this long
	// (0: never).
	SilenceTimeout time.Duration
	// Hooks hear of jobs starting and ending and of deleted specs (nil:
	// nobody).
	Hooks Hooks
}

// Running is how many builds run now.
func (q *Queue) Running() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.running)
}

// ErrNoRegistry is in the chain of an error that stops a job for want of
// a registry to push to.
var ErrNoRegistry = errors.New("image registry not found")

// Queue runs build jobs. The jobs table is the queue: a confirmed create or
// edit stores a Pending job in the same transaction as the spec, and a pool
// of workers takes Pending jobs oldest first. Jobs survive restarts.
type Queue struct {
	db   *db.DB
	exec executor.Executor
	logs *logs.Store
	cfg  Config
	// hooks are cfg.Hooks, never nil.
	hooks Hooks

	wake    chan struct{}
	ctx     context.Context
	stop    context.CancelCauseFunc
	workers sync.WaitGroup

	mu      sync.Mutex
	running map[int64]*runningJob

	claimWarn rate.Sometimes // the claim loop's errors, once a minute
}

type runningJob struct {
	cancel context.CancelCauseFunc
	done   chan struct{}
}

// silence is the cause given to a build's context when it printed nothing
// for too long.
type silence struct{ d time.Duration }

func (s silence) Error() string {
	return fmt.Sprintf("no output for %s: the build looked hung and was stopped (--build-silence-timeout)", s.d)
}

// watchSilence cancels a build whose log stays silent longer than the
// queue's SilenceTimeout, until ctx ends.
func (q *Queue) watchSilence(ctx context.Context, log *logs.JobLog, cancel context.CancelCauseFunc) {
	if q.cfg.SilenceTimeout <= 0 {
		return
	}
	tick := time.NewTicker(min(time.Second, q.cfg.SilenceTimeout/4))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if log.Idle() > q.cfg.SilenceTimeout {
				cancel(silence{q.cfg.SilenceTimeout})
				return
			}
		}
	}
}

// logFailure is the cause given to a build's context when its log cannot
// be written: the build stops, since nobody could read what it did.
type logFailure struct{ err error }

func (l logFailure) Error() string { return l.Failure().Message }

// Failure says "disk full" when that is why.
func (l logFailure) Failure() *failure.Failure {
	if errors.Is(l.err, syscall.ENOSPC) {
		return failure.New(failure.DiskFullLog, "disk full: the job log cannot be written: "+l.err.Error(), l.err.Error())
	}
	return failure.New(failure.LogUnwritable, "the job log cannot be written: "+l.err.Error(), l.err.Error())
}

// timedOut is the cause given to a build's context past the queue's
// Timeout.
type timedOut struct{ d time.Duration }

func (t timedOut) Error() string { return fmt.Sprintf("build timed out after %s", t.d) }

// New wires the queue; Start runs it.
func New(store *db.DB, exec executor.Executor, logStore *logs.Store, cfg Config) *Queue {
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Hour
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	hooks := cfg.Hooks
	if hooks == nil {
		hooks = HookFuncs{}
	}
	return &Queue{db: store, exec: exec, logs: logStore, cfg: cfg, hooks: hooks,
		wake: make(chan struct{}, 1), running: map[int64]*runningJob{}, claimWarn: rate.Sometimes{Interval: time.Minute}}
}

// Logs returns the queue's log store.
func (q *Queue) Logs() *logs.Store { return q.logs }

// Start recovers the jobs a dead process left Building, through the
// executor: a build that still runs is followed again, one that is gone
// fails with the executor's reason and a last line in its log. Then the
// workers start and Pending jobs run.
func (q *Queue) Start(ctx context.Context) error {
	building, err := q.db.JobsWithStatus(ctx, db.StatusBuilding)
	if err != nil {
		return fmt.Errorf("recover interrupted jobs: %w", err)
	}
	jobs := make([]executor.Job, len(building))
	for i, j := range building {
		jobs[i] = buildJob(j)
	}
	recovered, err := q.exec.Recover(ctx, jobs)
	if err != nil {
		return fmt.Errorf("recover interrupted jobs: %w", err)
	}
	q.ctx, q.stop = context.WithCancelCause(context.Background())
	byID := map[int64]db.Job{}
	for _, j := range building {
		byID[j.ID] = j
	}
	for _, r := range recovered {
		j, ok := byID[r.JobID]
		if !ok {
			continue
		}
		if r.Running {
			q.workers.Add(1)
			go func() {
				defer q.workers.Done()
				q.run(j, q.exec.Attach)
			}()
			continue
		}
		if _, err := q.db.FinishJob(ctx, j.ID, db.JobOutcome{Status: db.StatusFailed, Failure: r.Failure}); err != nil {
			return fmt.Errorf("recover job %d: %w", j.ID, err)
		}
		q.cfg.Log.Info("job finished", "job", j.ID, "spec", j.SpecName, "revision", j.Revision, "status", db.StatusFailed, "reason", r.Failure.Text())
		_ = q.logs.Append(j.ID, "Image Builder: revision %d failed: %s", j.Revision, r.Failure.Text())
	}
	for i := 0; i < q.cfg.Workers; i++ {
		q.workers.Add(1)
		go q.work()
	}
	q.Wake()
	return nil
}

// Wake tells an idle worker to look for Pending jobs.
func (q *Queue) Wake() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Stop takes no more jobs, cancels the running builds (recording them as
// cancelled) and waits for the workers, or until ctx is done.
func (q *Queue) Stop(ctx context.Context) error {
	if q.stop == nil {
		return nil
	}
	q.stop(cancelReason{why: cancelFailure(failure.Shutdown)})
	done := make(chan struct{})
	go func() { q.workers.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (q *Queue) work() {
	defer q.workers.Done()
	for {
		if q.ctx.Err() != nil {
			return
		}
		job, ok, err := q.db.ClaimNextJob(q.ctx)
		if err != nil && q.ctx.Err() == nil {
			q.claimWarn.Do(func() {
				q.cfg.Log.Error("claiming the next job failed; trying again every second", "err", err)
			})
			time.Sleep(time.Second) // the database is busy or failing; try again
			continue
		}
		if !ok {
			select {
			case <-q.ctx.Done():
				return
			case <-q.wake:
			case <-time.After(5 * time.Second):
			}
			continue
		}
		q.Wake() // another worker may take the next one
		q.run(job, nil)
	}
}

// run builds one claimed job (or, with attach, follows the build of an
// earlier process) and records how it ended.
func (q *Queue) run(job db.Job, attach func(context.Context, executor.Job, io.Writer) (executor.Outcome, error)) {
	ctx, cancel := context.WithCancelCause(q.ctx)
	rj := &runningJob{cancel: cancel, done: make(chan struct{})}
	q.mu.Lock()
	q.running[job.ID] = rj
	q.mu.Unlock()
	defer func() {
		cancel(nil)
		q.mu.Lock()
		delete(q.running, job.ID)
		q.mu.Unlock()
		close(rj.done)
	}()

	log, err := q.logs.Open(job.ID)
	if err != nil {
		q.finish(job, nil, db.JobOutcome{Status: db.StatusFailed, Failure: logFailure{err}.Failure()})
		return
	}
	log.OnError(func(err error) { cancel(logFailure{err}) })
	go q.watchSilence(ctx, log, cancel)
	q.cfg.Log.Info("job building", "job", job.ID, "spec", job.SpecName, "revision", job.Revision, "reattached", attach != nil)
	if attach != nil {
		log.Printf("Image Builder: following the build of job %d again after a restart", job.ID)
		// The build timeout counts from the build's start, not the restart.
		left := q.cfg.Timeout
		if !job.StartedAt.IsZero() {
			left -= time.Since(job.StartedAt)
		}
		timeout, stopTimer := context.WithTimeoutCause(ctx, max(left, time.Millisecond), timedOut{q.cfg.Timeout})
		defer stopTimer()
		res, err := attach(timeout, buildJob(job), log)
		out := q.outcome(timeout, res, err, log)
		q.takeInventory(ctx, job, out, 0, log)
		q.finish(job, log, out)
		return
	}
	log.Printf("Image Builder: job %d, revision %d of %q started (queued %s)", job.ID, job.Revision, job.SpecName, job.QueuedAt.UTC().Format(time.RFC3339))
	q.hooks.Started(job)
	out, reusedFrom := q.build(ctx, job, log)
	q.takeInventory(ctx, job, out, reusedFrom, log)
	q.finish(job, log, out)
}

// build runs the job's build, or reuses an earlier revision's image (then
// reusedFrom is that revision's job).
func (q *Queue) build(ctx context.Context, job db.Job, log *logs.JobLog) (out db.JobOutcome, reusedFrom int64) {
	req, err := q.request(ctx, job, log)
	if err != nil {
		// Also when ctx ended meanwhile: a cancel right after the start
		// is a cancel, not a failure of the lookups it interrupted.
		return q.outcome(ctx, executor.Outcome{}, err, log), 0
	}
	timeout, cancel := context.WithTimeoutCause(ctx, q.cfg.Timeout, timedOut{q.cfg.Timeout})
	defer cancel()
	if res, from, ok := q.reuse(timeout, job, req, log); ok {
		return q.outcome(timeout, res, nil, log), from
	}
	res, err := q.exec.Run(timeout, req, log)
	return q.outcome(timeout, res, err, log), 0
}

// buildJob is what an executor knows of job.
func buildJob(job db.Job) executor.Job {
	return executor.Job{ID: job.ID, SpecName: job.SpecName, Revision: job.Revision, Snapshot: job.Snapshot}
}

// request gathers what a job's build needs: where it pushes and the pull
// secret of its base image (the spec's, else its Image Management entry's).
func (q *Queue) request(ctx context.Context, job db.Job, log *logs.JobLog) (executor.Request, error) {
	reg, err := q.registryFor(ctx, job)
	if err != nil {
		return executor.Request{}, err
	}
	req := executor.Request{Job: buildJob(job), Tag: job.Tag(), Registry: reg}
	if q.cfg.Sources != nil {
		if req.Sources, err = q.cfg.Sources(ctx); err != nil {
			return executor.Request{}, fmt.Errorf("package sources: %w", err)
		}
	}
	if q.cfg.Limits != nil {
		if req.Limits, err = q.cfg.Limits(ctx); err != nil {
			return executor.Request{}, fmt.Errorf("build limits: %w", err)
		}
	}
	// Packages only added since the last good build keep its APT steps.
	prev, ok, err := q.db.LastSucceededJob(ctx, job.SpecName, job.ID)
	if err != nil {
		return executor.Request{}, err
	}
	p := plan.For(job.Snapshot, prev, ok, q.exec.Capabilities())
	req.PreviousAPT = p.PreviousAPT
	record := ""
	if !req.Sources.IsZero() {
		raw, _ := json.Marshal(req.Sources.Redacted())
		record = string(raw)
	}
	steps := p.APTSteps(job.Snapshot)
	if p.AddsAStep(steps) {
		log.Printf("Image Builder: APT packages were only added since revision %d: its APT steps are kept and one more step installs %s",
			p.Previous, strings.Join(steps[len(steps)-1], " "))
	}
	if err := q.db.SetJobPlan(ctx, job.ID, record, steps); err != nil {
		return executor.Request{}, err
	}
	name, secret, err := q.pullSecretFor(ctx, job.Snapshot)
	if err != nil {
		return executor.Request{}, err
	}
	if name != "" && job.Snapshot.PullSecret == "" {
		log.Printf("Image Builder: using pull secret %q of the base image's Image Management entry", name)
	}
	req.PullSecret = secret
	return req, nil
}

// pullSecretFor is the pull secret of a spec's base image: the spec's,
// else its Image Management entry's (name "" and nil for none).
func (q *Queue) pullSecretFor(ctx context.Context, s db.ImageSpec) (string, []byte, error) {
	name := s.PullSecret
	if name == "" {
		var err error
		if name, err = q.db.BaseImagePullSecret(ctx, s.BaseImage); err != nil || name == "" {
			return "", nil, err
		}
	}
	if q.cfg.PullSecret == nil {
		return name, nil, fmt.Errorf("pull secret %q is not available", name)
	}
	secret, err := q.cfg.PullSecret(ctx, name)
	if err != nil {
		return name, nil, fmt.Errorf("pull secret %q: %w", name, err)
	}
	return name, secret, nil
}

// outcome turns what the executor returned into how the job ended.
func (q *Queue) outcome(timeout context.Context, res executor.Outcome, err error, log *logs.JobLog) db.JobOutcome {
	if err == nil {
		return db.JobOutcome{Status: db.StatusSucceeded, Image: res.Image, Digest: res.Digest, Size: res.Size}
	}
	// Why the context ended comes first: the error is then only its echo.
	var reason cancelReason
	var lost logFailure
	var quiet silence
	failed := func(f *failure.Failure) db.JobOutcome { return db.JobOutcome{Status: db.StatusFailed, Failure: f} }
	switch cause := context.Cause(timeout); {
	case errors.As(cause, &reason):
		return db.JobOutcome{Status: db.StatusCancelled, Failure: reason.why, CancelledBy: reason.by}
	case errors.As(cause, &lost):
		return failed(lost.Failure())
	case errors.As(cause, &quiet):
		return failed(failure.New(failure.Silent, quiet.Error(), quiet.d.String()))
	case errors.As(cause, &timedOut{}):
		return failed(failure.New(failure.Timeout, cause.Error(), q.cfg.Timeout.String()))
	case timeout.Err() != nil:
		return failed(failure.New(failure.Other, cause.Error()))
	}
	return failed(diagnosis.Diagnose(err, log.LastLines()))
}

// registryFor is where a job pushes: the registry recorded on the job, with
// the current credentials when it is still the configured one.
func (q *Queue) registryFor(ctx context.Context, job db.Job) (registry.Target, error) {
	if q.cfg.Registry == nil {
		return registry.Target{}, noRegistry(errors.New("no registry is configured"))
	}
	reg, err := q.cfg.Registry(ctx)
	if err != nil {
		return registry.Target{}, noRegistry(err)
	}
	if job.Registry != "" && job.Registry != reg.Host {
		return registry.Target{Host: job.Registry, Insecure: reg.Insecure}, nil
	}
	return reg, nil
}

// noRegistry is a job stopped for want of a registry: ErrNoRegistry in
// its chain, and the no-registry failure.
func noRegistry(err error) error {
	return noRegistryError{failure.New(failure.NoRegistry, ErrNoRegistry.Error()+": "+err.Error(), err.Error())}
}

// noRegistryError says its failure once, with ErrNoRegistry and the
// failure both in its chain.
type noRegistryError struct{ f *failure.Failure }

func (e noRegistryError) Error() string   { return e.f.Message }
func (e noRegistryError) Unwrap() []error { return []error{ErrNoRegistry, e.f} }

// finish records how a job ended, then writes its last log line and
// closes the log: a live feed ends when the log closes, and by then the
// job's final status is recorded for the feed's end event to report.
func (q *Queue) finish(job db.Job, log *logs.JobLog, out db.JobOutcome) {
	// Record even while shutting down.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	finished, recordErr := q.db.FinishJob(ctx, job.ID, out)
	q.hooks.Finished(job, out)
	if recordErr == nil {
		q.hooks.Ended(finished)
	}
	attrs := []any{"job", job.ID, "spec", job.SpecName, "revision", job.Revision, "status", out.Status}
	if out.Failure != nil {
		attrs = append(attrs, "reason", out.Failure.Message)
	}
	if recordErr != nil {
		q.cfg.Log.Error("job outcome not recorded", append(attrs, "err", recordErr)...)
	} else {
		q.cfg.Log.Info("job finished", attrs...)
	}
	if log == nil {
		return
	}
	if out.Status == db.StatusSucceeded && recordErr == nil {
		q.afterBaseUpdate(ctx, finished, log)
		if moved, err := q.SyncAlias(ctx, job.SpecName); err != nil {
			log.Printf("Image Builder: warning: the %s:%s tag was not moved: %v", job.SpecName, db.AliasTag, err)
		} else if moved != "" {
			log.Printf("Image Builder: %s now points at the active revision", moved)
		}
	}
	switch out.Status {
	case db.StatusSucceeded:
		log.Printf("Image Builder: revision %d succeeded: %s@%s", job.Revision, out.Image, out.Digest)
	default:
		log.Printf("Image Builder: revision %d %s: %s", job.Revision, out.Status, out.Failure.Text())
	}
	if recordErr != nil {
		log.Printf("Image Builder: could not record the result: %v", recordErr)
	}
	_ = log.Close()
}
