// Package queue runs build jobs: the jobs table is the queue, a pool of
// workers takes Pending jobs oldest first and hands each to an
// executor.Executor, records how it ended (with a reason a person can
// read), and at start-up recovers the builds of an earlier process through
// the executor. It talks to builds only through package executor and
// knows nothing of HTTP.
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

	"go.podman.io/image/v5/docker/reference"
	"golang.org/x/time/rate"

	"imagebuilder/builder/diagnosis"
	"imagebuilder/builder/executor"
	"imagebuilder/builder/inventory"
	"imagebuilder/builder/logs"
	"imagebuilder/builder/registry"
	"imagebuilder/builder/settings"
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
	// Observer hears of every build's start and end (metrics); nil: none.
	Observer Observer
	// Notify hears of every job that ended, as recorded, including a
	// pending one cancelled (webhooks); it must return quickly. nil: none.
	Notify func(db.Job)
	// ForgetSpec, when set, removes a deleted spec's images from where
	// they were pushed (its jobs, as they were before the deletion).
	ForgetSpec func(ctx context.Context, name string, jobs []db.Job) error
}

// Observer hears of builds starting and ending.
type Observer interface {
	// Started is a job whose build begins (not one followed again after
	// a restart).
	Started(job db.Job)
	// Finished is a job that ended, however; job.StartedAt is set.
	Finished(job db.Job, out db.JobOutcome)
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

// cancelled is how a job stopped on purpose is recorded, for each reason
// a build is stopped: an administrator's Cancel, the spec's deletion, the
// server's shutdown.
var cancelled = map[failure.Reason]string{
	failure.Cancelled:   "cancelled by an administrator",
	failure.SpecDeleted: "cancelled: the image spec was deleted",
	failure.Shutdown:    "cancelled: the server shut down",
}

// cancelFailure is the failure of a job cancelled for reason.
func cancelFailure(reason failure.Reason) *failure.Failure {
	return failure.New(reason, cancelled[reason])
}

// Queue runs build jobs. The jobs table is the queue: a confirmed create or
// edit stores a Pending job in the same transaction as the spec, and a pool
// of workers takes Pending jobs oldest first. Jobs survive restarts.
type Queue struct {
	db   *db.DB
	exec executor.Executor
	logs *logs.Store
	cfg  Config

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

// cancelReason is the cause given to a build's context when it is cancelled
// on purpose (as opposed to a timeout), by whom ("" for the server).
type cancelReason struct {
	why *failure.Failure
	by  string
}

func (c cancelReason) Error() string { return c.why.Message }

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
	return &Queue{db: store, exec: exec, logs: logStore, cfg: cfg,
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
	recovered, err := q.exec.Recover(ctx, building)
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
func (q *Queue) run(job db.Job, attach func(context.Context, db.Job, io.Writer) (executor.Outcome, error)) {
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
		res, err := attach(timeout, job, log)
		out := q.outcome(timeout, res, err, log)
		q.takeInventory(ctx, job, out, 0, log)
		q.finish(job, log, out)
		return
	}
	log.Printf("Image Builder: job %d, revision %d of %q started (queued %s)", job.ID, job.Revision, job.SpecName, job.QueuedAt.UTC().Format(time.RFC3339))
	if q.cfg.Observer != nil {
		q.cfg.Observer.Started(job)
	}
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

// Inventorier reads what a pushed image holds.
type Inventorier interface {
	// Inventory reads the image ref (host/name@digest) on reg.
	Inventory(ctx context.Context, reg registry.Target, ref string) (inventory.Inventory, error)
}

// inventoryTimeout bounds reading one image's packages.
const inventoryTimeout = 5 * time.Minute

// takeInventory records what a succeeded job's image holds: copied from
// the job whose image it reused, else read from the registry, and compared
// with the previous succeeded revision's. A read that fails is recorded
// with why and never fails the build.
func (q *Queue) takeInventory(ctx context.Context, job db.Job, out db.JobOutcome, reusedFrom int64, log *logs.JobLog) {
	if q.cfg.Inventory == nil || out.Status != db.StatusSucceeded {
		return
	}
	start := time.Now()
	inv := db.Inventory{JobID: job.ID, ScannedAt: start}
	if reusedFrom != 0 {
		if prev, ok, err := q.db.GetInventory(ctx, reusedFrom); err == nil && ok && prev.OK {
			inv.OK, inv.CopiedFrom, inv.DistroID, inv.DistroVersion, inv.Packages = true, reusedFrom, prev.DistroID, prev.DistroVersion, prev.Packages
		}
	}
	if !inv.OK {
		if err := q.readInventory(ctx, job, out, &inv); err != nil {
			inv.Error = err.Error()
		}
	}
	inv.Duration = time.Since(start)
	since := ""
	if inv.OK {
		if prev, ok, err := q.db.PreviousInventoried(ctx, job.SpecName, job.ID); err == nil && ok {
			if old, ok, err := q.db.GetInventory(ctx, prev.ID); err == nil && ok {
				d := inventory.Compare(old.Packages, inv.Packages)
				inv.AgainstJob, inv.Added, inv.Removed, inv.Changed = prev.ID, len(d.Added), len(d.Removed), len(d.Changed)
				since = fmt.Sprintf("; since revision %d: %d added, %d removed, %d changed", prev.Revision, inv.Added, inv.Removed, inv.Changed)
			}
		}
	}
	if err := q.db.SaveInventory(context.WithoutCancel(ctx), inv); err != nil {
		log.Printf("Image Builder: warning: %v", err)
		return
	}
	if !inv.OK {
		log.Printf("Image Builder: the image's package inventory could not be read (%s); the image is not affected", inv.Error)
		return
	}
	counts := inventory.Counts(inv.Packages)
	how := fmt.Sprintf("read in %.2fs", inv.Duration.Seconds())
	if inv.CopiedFrom != 0 {
		how = "the same as the reused image's"
	}
	log.Printf("Image Builder: the image holds %d packages (%d deb, %d python, %d conda), %s%s",
		len(inv.Packages), counts[inventory.TypeDeb], counts[inventory.TypePython], counts[inventory.TypeConda], how, since)
}

// readInventory reads the pushed image's packages into inv.
func (q *Queue) readInventory(ctx context.Context, job db.Job, out db.JobOutcome, inv *db.Inventory) error {
	reg, err := q.registryFor(ctx, job)
	if err != nil {
		return err
	}
	named, err := reference.ParseNormalizedNamed(out.Image)
	if err != nil {
		return fmt.Errorf("image %q: %w", out.Image, err)
	}
	ctx, cancel := context.WithTimeout(ctx, inventoryTimeout)
	defer cancel()
	got, err := q.cfg.Inventory.Inventory(ctx, reg, reference.TrimNamed(named).String()+"@"+out.Digest)
	if err != nil {
		return err
	}
	inv.OK, inv.DistroID, inv.DistroVersion, inv.Packages = true, got.DistroID, got.DistroVersion, got.Packages
	return nil
}

// Reuser spares a build whose result exists: it resolves a base image's
// digest now, and tags an image already in the registry again.
type Reuser interface {
	ResolveBase(ctx context.Context, ref string, pullSecret []byte) (string, error)
	Retag(ctx context.Context, reg registry.Target, from, to string, log io.Writer) (int64, error)
}

// reuse records what the job builds (its content key) and, when a
// succeeded revision of the spec built the same content into the same
// registry and its image is still there, gives that image the job's tag
// instead of building. A rebuild (NoReuse) always builds. Any trouble on
// the way (the base cannot be resolved, the old image is gone) means a
// build, as without this.
func (q *Queue) reuse(ctx context.Context, job db.Job, req executor.Request, log *logs.JobLog) (executor.Outcome, int64, bool) {
	if q.cfg.Reuse == nil {
		return executor.Outcome{}, 0, false
	}
	dig, err := q.cfg.Reuse.ResolveBase(ctx, job.Snapshot.BaseImage, req.PullSecret)
	if err != nil {
		return executor.Outcome{}, 0, false // the build says what is wrong with the base
	}
	key := spec.ContentKey(job.Snapshot, dig, req.Sources)
	if err := q.db.SetJobContentKey(ctx, job.ID, key, dig); err != nil || job.NoReuse {
		return executor.Outcome{}, 0, false
	}
	prev, ok, err := q.db.SucceededJobWithKey(ctx, job.SpecName, key, job.ID)
	if err != nil || !ok || prev.Registry != req.Registry.Host || prev.Digest == "" {
		return executor.Outcome{}, 0, false
	}
	named, err := reference.ParseNormalizedNamed(prev.Image)
	if err != nil {
		return executor.Outcome{}, 0, false
	}
	target := req.Registry.Host + "/" + job.Snapshot.Name + ":" + req.Tag
	log.Printf("Image Builder: revision %d built the same spec on the same base image (%s): its image is reused, nothing is built", prev.Revision, dig)
	size, err := q.cfg.Reuse.Retag(ctx, req.Registry, reference.TrimNamed(named).String()+"@"+prev.Digest, target, io.Discard)
	if err != nil {
		log.Printf("Image Builder: the image of revision %d cannot be reused (%v); building", prev.Revision, err)
		return executor.Outcome{}, 0, false
	}
	if err := q.db.SetJobReusedFrom(ctx, job.ID, prev.ID); err != nil {
		log.Printf("Image Builder: warning: %v", err)
	}
	log.Printf("Image Builder: reused revision %d's image: %s@%s", prev.Revision, target, prev.Digest)
	return executor.Outcome{Image: target, Digest: prev.Digest, Size: size}, prev.ID, true
}

// request gathers what a job's build needs: where it pushes and the pull
// secret of its base image (the spec's, else its Image Management entry's).
func (q *Queue) request(ctx context.Context, job db.Job, log *logs.JobLog) (executor.Request, error) {
	reg, err := q.registryFor(ctx, job)
	if err != nil {
		return executor.Request{}, err
	}
	req := executor.Request{Job: job, Tag: job.Tag(), Registry: reg}
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
	keeper, isKeeper := q.exec.(executor.LayerKeeper)
	if ok && prev.Snapshot.BaseImage == job.Snapshot.BaseImage && (!isKeeper || keeper.KeepsLayers()) {
		req.PreviousAPT = prev.APTSteps
	}
	record := ""
	if !req.Sources.IsZero() {
		raw, _ := json.Marshal(req.Sources.Redacted())
		record = string(raw)
	}
	steps := spec.APTSteps(job.Snapshot, spec.Options{PreviousAPT: req.PreviousAPT})
	if len(steps) > 1 && len(steps) > len(req.PreviousAPT) {
		log.Printf("Image Builder: APT packages were only added since revision %d: its APT steps are kept and one more step installs %s",
			prev.Revision, strings.Join(steps[len(steps)-1], " "))
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
	return fmt.Errorf("%w: %w", ErrNoRegistry, failure.New(failure.NoRegistry, ErrNoRegistry.Error()+": "+err.Error(), err.Error()))
}

// finish records how a job ended, then writes its last log line and
// closes the log: a live feed ends when the log closes, and by then the
// job's final status is recorded for the feed's end event to report.
func (q *Queue) finish(job db.Job, log *logs.JobLog, out db.JobOutcome) {
	// Record even while shutting down.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	finished, recordErr := q.db.FinishJob(ctx, job.ID, out)
	if q.cfg.Observer != nil {
		q.cfg.Observer.Finished(job, out)
	}
	if q.cfg.Notify != nil && recordErr == nil {
		q.cfg.Notify(finished)
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

// --- Operations the portal and CLI use --------------------------------------

// Create validates and stores a new spec with its first job, then wakes a
// worker.
func (q *Queue) Create(ctx context.Context, in db.ImageSpec) (db.Spec, db.Job, error) {
	res, err := q.Save(ctx, db.Edit{Spec: in, Create: true})
	return res.Spec, res.Job, err
}

// Update validates and stores an edit with a new job (superseding older
// pending ones) even when nothing changed, then wakes a worker.
func (q *Queue) Update(ctx context.Context, in db.ImageSpec) (db.Spec, db.Job, error) {
	return q.confirm(ctx, in, q.db.UpdateSpec)
}

// Save validates a confirmed create or edit and stores it as the store's
// SaveSpec does (refusing a stale version, building nothing when nothing
// changed, once per intent), then wakes a worker for the job it made.
func (q *Queue) Save(ctx context.Context, e db.Edit) (db.SaveResult, error) {
	var res db.SaveResult
	_, _, err := q.confirm(ctx, e.Spec, func(ctx context.Context, in db.ImageSpec, host string) (db.Spec, db.Job, error) {
		var err error
		res, err = q.db.SaveSpec(ctx, e, host)
		if res.Repeated || !res.Changed {
			return res.Spec, db.Job{}, err
		}
		return res.Spec, res.Job, err
	})
	return res, err
}

func (q *Queue) confirm(ctx context.Context, in db.ImageSpec,
	save func(context.Context, db.ImageSpec, string) (db.Spec, db.Job, error)) (db.Spec, db.Job, error) {
	if err := spec.Validate(in); err != nil {
		return db.Spec{}, db.Job{}, err
	}
	if msg, err := settings.CheckPullSecret(ctx, q.db, in.PullSecret); err != nil {
		return db.Spec{}, db.Job{}, err
	} else if !msg.IsZero() {
		return db.Spec{}, db.Job{}, spec.ValidationError{{Field: spec.FieldPullSecret, Message: msg}}
	}
	host, err := q.currentHost(ctx)
	if err != nil {
		return db.Spec{}, db.Job{}, err
	}
	waiting := q.pendingJobs(ctx, in.Name)
	saved, j, err := save(ctx, in, host)
	if err == nil && j.ID != 0 {
		q.logQueued(j)
		q.Wake()
		q.notifySuperseded(ctx, waiting)
	}
	return saved, j, err
}

// logQueued writes the server log's line for a new pending job.
func (q *Queue) logQueued(j db.Job) {
	q.cfg.Log.Info("job queued", "job", j.ID, "spec", j.SpecName, "revision", j.Revision, "by", j.RequestedBy, "retry_of", j.RetryOf)
}

// pendingJobs are the spec's jobs that a new one would supersede (none
// when Notify is not set).
func (q *Queue) pendingJobs(ctx context.Context, name string) []db.Job {
	if q.cfg.Notify == nil {
		return nil
	}
	jobs, _ := q.db.FindJobs(ctx, db.JobFilter{Spec: name, Status: db.StatusPending})
	return jobs
}

// notifySuperseded tells Notify of the pending jobs a new job cancelled.
func (q *Queue) notifySuperseded(ctx context.Context, waiting []db.Job) {
	for _, w := range waiting {
		if j, err := q.db.GetJob(ctx, w.ID); err == nil && j.Status == db.StatusCancelled {
			q.cfg.Log.Info("job finished", "job", j.ID, "spec", j.SpecName, "revision", j.Revision, "status", j.Status, "reason", j.Failure.Text())
			q.cfg.Notify(j)
		}
	}
}

func (q *Queue) currentHost(ctx context.Context) (string, error) {
	if q.cfg.Registry == nil {
		return "", nil
	}
	reg, err := q.cfg.Registry(ctx)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrNoRegistry, err)
	}
	return reg.Host, nil
}

// Retry enqueues the latest, failed or cancelled, job's snapshot again.
func (q *Queue) Retry(ctx context.Context, jobID int64) (db.Job, error) {
	return q.again(ctx, jobID, q.db.RetryJob)
}

// Rebuild enqueues a succeeded job's snapshot, of any revision, as the
// spec's next revision.
func (q *Queue) Rebuild(ctx context.Context, jobID int64) (db.Job, error) {
	return q.again(ctx, jobID, q.db.RebuildJob)
}

func (q *Queue) again(ctx context.Context, jobID int64, enqueue func(context.Context, int64, string) (db.Job, error)) (db.Job, error) {
	host, err := q.currentHost(ctx)
	if err != nil {
		return db.Job{}, err
	}
	var waiting []db.Job
	if old, err := q.db.GetJob(ctx, jobID); err == nil {
		waiting = q.pendingJobs(ctx, old.SpecName)
	}
	j, err := enqueue(ctx, jobID, host)
	if err == nil {
		q.logQueued(j)
		q.Wake()
		q.notifySuperseded(ctx, waiting)
	}
	return j, err
}

// Activate makes a succeeded revision (its job) the spec's active one, or
// with 0 the latest succeeded revision, and moves the spec's alias tag.
func (q *Queue) Activate(ctx context.Context, name string, jobID int64) error {
	if err := q.db.SetActiveJob(ctx, name, jobID); err != nil {
		return err
	}
	_, err := q.SyncAlias(ctx, name)
	return err
}

// SetAlias turns the spec's <name>:active tag on or off, and puts it on
// the active revision when on.
func (q *Queue) SetAlias(ctx context.Context, name string, on bool) error {
	if err := q.db.SetAliasTag(ctx, name, on); err != nil {
		return err
	}
	if !on {
		return q.db.SetAliasDigest(ctx, name, "")
	}
	_, err := q.SyncAlias(ctx, name)
	return err
}

// SyncAlias puts the spec's alias tag (<name>:active) on its active
// revision's image when the alias is on and points elsewhere, and returns
// the tag it moved ("" when nothing moved). Revision tags never move.
func (q *Queue) SyncAlias(ctx context.Context, name string) (string, error) {
	sp, err := q.db.GetSpec(ctx, name)
	if err != nil || !sp.AliasTag {
		return "", err
	}
	active, _, ok, err := q.db.ActiveJob(ctx, name)
	if err != nil || !ok || active.Digest == sp.AliasDigest {
		return "", err
	}
	if q.cfg.Reuse == nil {
		return "", errors.New("this builder cannot tag images")
	}
	reg, err := q.registryFor(ctx, active)
	if err != nil {
		return "", err
	}
	if current, err := q.currentHost(ctx); err != nil || current != active.Registry {
		return "", fmt.Errorf("revision %d was pushed to %s, not to the registry builds push to now", active.Revision, active.Registry)
	}
	named, err := reference.ParseNormalizedNamed(active.Image)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", active.Image, err)
	}
	to := reg.Host + "/" + name + ":" + db.AliasTag
	if _, err := q.cfg.Reuse.Retag(ctx, reg, reference.TrimNamed(named).String()+"@"+active.Digest, to, io.Discard); err != nil {
		return "", err
	}
	if err := q.db.SetAliasDigest(ctx, name, active.Digest); err != nil {
		return "", err
	}
	q.cfg.Log.Info("alias moved", "spec", name, "tag", to, "revision", active.Revision, "digest", active.Digest)
	return to, nil
}

// afterBaseUpdate clears a spec's "base image updated" once a revision
// built on the newer base succeeds, and makes a rebuild that the
// "activate" policy asked for the active revision.
func (q *Queue) afterBaseUpdate(ctx context.Context, job db.Job, log *logs.JobLog) {
	st, err := q.db.GetBaseState(ctx, job.SpecName)
	if err == nil && st.Update != "" && st.Update == job.BaseDigest {
		err = q.db.SetBaseChecked(ctx, job.SpecName, "")
	}
	if err == nil && job.ActivateOnSuccess {
		var sp db.Spec
		if sp, err = q.db.GetSpec(ctx, job.SpecName); err == nil && sp.ActiveJob != 0 {
			// A pinned spec moves to this revision; otherwise it is
			// the latest succeeded one, active already.
			if err = q.db.SetActiveJob(ctx, job.SpecName, job.ID); err == nil {
				log.Printf("Image Builder: revision %d, built on the updated base image, is now the active revision", job.Revision)
			}
		}
	}
	if err != nil {
		log.Printf("Image Builder: warning: %v", err)
	}
}

// BaseCheck is what a check of the specs' base images found.
type BaseCheck struct {
	Checked, Updated, Rebuilt int
	// Failed says, per spec, why its base image could not be resolved.
	Failed []string
}

// CheckBases resolves again the base image of every spec whose latest
// job succeeded (and none is queued or building), and where its digest
// changed acts on the spec's policy: wait (the spec shows "base image
// updated" until a Rebuild), rebuild, or rebuild and make the new
// revision active when it succeeds.
func (q *Queue) CheckBases(ctx context.Context) (BaseCheck, error) {
	var res BaseCheck
	if q.cfg.Reuse == nil {
		return res, errors.New("this builder cannot resolve base images")
	}
	names, err := q.db.SpecNames(ctx)
	if err != nil {
		return res, err
	}
	for _, name := range names {
		jobs, err := q.db.ListJobs(ctx, name)
		if err != nil {
			return res, err
		}
		if len(jobs) == 0 || jobs[0].Status != db.StatusSucceeded || jobs[0].BaseDigest == "" {
			continue // nothing built yet, a build on its way, or a failure to look at first
		}
		latest := jobs[0]
		_, secret, err := q.pullSecretFor(ctx, latest.Snapshot)
		var dig string
		if err == nil {
			dig, err = q.cfg.Reuse.ResolveBase(ctx, latest.Snapshot.BaseImage, secret)
		}
		if err != nil {
			res.Failed = append(res.Failed, name+": "+err.Error())
			continue
		}
		res.Checked++
		if dig == latest.BaseDigest {
			if err := q.db.SetBaseChecked(ctx, name, ""); err != nil {
				return res, err
			}
			continue
		}
		res.Updated++
		st, err := q.db.GetBaseState(ctx, name)
		if err != nil {
			return res, err
		}
		update := dig
		if st.Policy != db.BasePolicyWait {
			nj, err := q.Rebuild(ctx, latest.ID)
			if err != nil {
				res.Failed = append(res.Failed, name+": "+err.Error())
				continue
			}
			if st.Policy == db.BasePolicyActivate {
				if err := q.db.SetActivateOnSuccess(ctx, nj.ID); err != nil {
					return res, err
				}
			}
			res.Rebuilt++
			q.cfg.Log.Info("base image updated", "spec", name, "digest", dig, "policy", st.Policy, "job", nj.ID, "revision", nj.Revision)
		} else {
			q.cfg.Log.Info("base image updated", "spec", name, "digest", dig, "policy", st.Policy)
		}
		if err := q.db.SetBaseChecked(ctx, name, update); err != nil {
			return res, err
		}
	}
	return res, nil
}

// Cancel stops a Pending or Building job, as an administrator's cancel.
// A Building job is recorded as cancelled by its worker once the build has
// stopped; Cancel waits for that.
func (q *Queue) Cancel(ctx context.Context, jobID int64) (db.Job, error) {
	return q.cancel(ctx, jobID, cancelFailure(failure.Cancelled))
}

func (q *Queue) cancel(ctx context.Context, jobID int64, why *failure.Failure) (db.Job, error) {
	j, err := q.db.CancelPendingJob(ctx, jobID, why)
	if err == nil {
		q.cfg.Log.Info("job finished", "job", j.ID, "spec", j.SpecName, "revision", j.Revision, "status", j.Status, "reason", j.Failure.Text(), "by", j.CancelledBy)
		if q.cfg.Notify != nil {
			q.cfg.Notify(j)
		}
	}
	if err == nil || !errors.Is(err, db.ErrConflict) {
		return j, err
	}
	// Building: find its worker (it registers right after claiming).
	var rj *runningJob
	for tries := 0; rj == nil; tries++ {
		q.mu.Lock()
		rj = q.running[jobID]
		q.mu.Unlock()
		if rj != nil {
			break
		}
		j, err := q.db.GetJob(ctx, jobID)
		if err != nil || j.Status.Finished() || tries > 100 {
			return j, err // finished meanwhile, or not built by this process
		}
		time.Sleep(20 * time.Millisecond)
	}
	rj.cancel(cancelReason{why: why, by: db.ActorOf(ctx)})
	select {
	case <-rj.done:
	case <-ctx.Done():
		return db.Job{}, ctx.Err()
	}
	return q.db.GetJob(ctx, jobID)
}

// Delete cancels the spec's unfinished jobs, then removes the spec, its
// jobs and their logs, and (ForgetSpec) its images' tags.
func (q *Queue) Delete(ctx context.Context, name string) error {
	jobs, err := q.db.ListJobs(ctx, name)
	if err != nil {
		return err
	}
	if _, err := q.db.GetSpec(ctx, name); err != nil {
		return err
	}
	for _, j := range jobs {
		if !j.Status.Finished() {
			if _, err := q.cancel(ctx, j.ID, cancelFailure(failure.SpecDeleted)); err != nil {
				return err
			}
		}
	}
	if err := q.db.DeleteSpec(ctx, name); err != nil {
		return err
	}
	var errs []error
	for _, j := range jobs {
		errs = append(errs, q.logs.Remove(j.ID))
	}
	if q.cfg.ForgetSpec != nil {
		errs = append(errs, q.cfg.ForgetSpec(ctx, name, jobs))
	}
	return errors.Join(errs...)
}
