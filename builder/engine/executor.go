package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"imagebuilder/builder/disk"
	"imagebuilder/builder/executor"
	"imagebuilder/builder/registry/images"
	"imagebuilder/builder/spec"
	"imagebuilder/db/failure"
)

var _ executor.Executor = (*Engine)(nil)

// Run builds a job's snapshot in this process; see executor.Executor. It
// refuses to start when the data directory has less than MinFreeSpace free.
func (e *Engine) Run(ctx context.Context, req executor.Request, log io.Writer) (executor.Outcome, error) {
	if e.minFree > 0 {
		if free, _, err := disk.FreeSpace(e.dataDir); err == nil && free < e.minFree {
			return executor.Outcome{}, &executor.DiskFullError{Path: e.dataDir, Free: free, Need: e.minFree}
		}
	}
	// A package manager that fails for a full disk says so in its output
	// and then exits with a status that does not.
	watch := &noSpaceWatch{w: log}
	res, err := e.Build(ctx, BuildRequest{Spec: req.Job.Snapshot, Tag: req.Tag, Registry: req.Registry,
		PullSecret: req.PullSecret, Log: watch, NoCache: req.NoCache, Sources: req.Sources, PreviousAPT: req.PreviousAPT, Limits: req.Limits,
		CacheRepo: req.CacheRepo})
	if err != nil {
		var step *executor.StepError
		if errors.Is(err, syscall.ENOSPC) || strings.Contains(strings.ToLower(err.Error()), "no space left on device") ||
			(errors.As(err, &step) && watch.seen.Load()) {
			return executor.Outcome{}, &executor.DiskFullError{Path: e.dataDir, Err: err}
		}
		return executor.Outcome{}, err
	}
	return executor.Outcome{Image: res.Image, Digest: res.Digest, Size: res.Size}, nil
}

// ReasonInterrupted is why a build of an earlier process is gone: an
// in-process build dies with its process.
const ReasonInterrupted = "interrupted by server restart"

// Recover ends what builds of an earlier process left (processes, mounts,
// scratch files, working containers): none of them can still run, since
// they ran in that process.
func (e *Engine) Recover(_ context.Context, building []executor.Job) ([]executor.Recovery, error) {
	if err := e.RemoveLeftovers(); err != nil {
		return nil, fmt.Errorf("remove what earlier builds left: %w", err)
	}
	out := make([]executor.Recovery, len(building))
	for i, j := range building {
		out[i] = executor.Recovery{JobID: j.ID, Failure: failure.New(failure.Interrupted, ReasonInterrupted)}
	}
	return out, nil
}

// Attach is never called for this executor: Recover finds nothing running.
func (e *Engine) Attach(context.Context, executor.Job, io.Writer) (executor.Outcome, error) {
	return executor.Outcome{}, errors.New("an in-process build cannot outlive its process")
}

var exitStatus = regexp.MustCompile(`exit status (\d+)`)

// buildError types what Buildah returned for a failed build, so callers
// branch on types: a refused pull of the base image, or a step that exited
// with a status (and which package manager's step it was).
func buildError(err error) error {
	if images.IsAuthError(err) {
		return &executor.AuthError{Err: fmt.Errorf("build: %w", err)}
	}
	if m := exitStatus.FindAllStringSubmatch(err.Error(), -1); m != nil {
		status, _ := strconv.Atoi(m[len(m)-1][1])
		return &executor.StepError{Step: spec.StepIn(err.Error()), Status: status, Err: fmt.Errorf("build: %w", err)}
	}
	return fmt.Errorf("build: %w", err)
}

// noSpaceWatch passes a build's output on and notes whether it said that
// the disk is full.
type noSpaceWatch struct {
	w    io.Writer
	seen atomic.Bool
}

func (n *noSpaceWatch) Write(p []byte) (int, error) {
	if !n.seen.Load() && bytes.Contains(p, []byte("No space left on device")) {
		n.seen.Store(true)
	}
	return n.w.Write(p)
}
