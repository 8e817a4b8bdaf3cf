// Package executor is the seam between the job queue and whatever runs a
// build: the in-process Buildah engine (package engine) or a cluster. The
// queue, restart recovery and failure classification talk only to the
// Executor interface and the typed errors here; an executor never touches
// the database or the job's status. This package imports no executor.
package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"imagebuilder/builder/registry"
	"imagebuilder/builder/spec"
	"imagebuilder/db/failure"
	"imagebuilder/db/imagespec"
)

// Job is what an executor knows of a build job: who it is and what it
// builds. The queue makes it from the stored job (an executor never reads
// the store).
type Job struct {
	ID       int64
	SpecName string
	Revision int
	// Snapshot is the spec the job builds.
	Snapshot imagespec.Spec
}

// Request is one build: a job's snapshot and where it goes.
type Request struct {
	// Job is the job being built; Job.Snapshot is the spec to build.
	Job Job
	// Tag is the image tag to push, e.g. the revision "3".
	Tag string
	// Registry receives the image as <Host>/<Snapshot.Name>:<Tag>.
	Registry registry.Target
	// PullSecret is a Docker config JSON (.dockerconfigjson) used to pull
	// the base image; nil for none. It is never logged.
	PullSecret []byte
	// NoCache rebuilds every step.
	NoCache bool
	// Sources are the package sources with their credentials; an executor
	// hands them to the steps as secret files only.
	Sources spec.Sources
	// PreviousAPT are the APT steps of the spec's last succeeded build
	// (see spec.PlanAPT); nil for none.
	PreviousAPT [][]string
	// Limits bound the build's steps (an in-process build; a cluster
	// build has its pod's resources).
	Limits Limits
	// CacheRepo is a repository (host/path) the build pulls earlier
	// steps' layers from and pushes its new ones to, or "": the layer
	// cache of builders whose own store starts empty (build pods).
	CacheRepo string
}

// Limits bound one build's steps; zero values mean no bound.
type Limits struct {
	Memory int64   `json:"memory,omitempty"` // bytes
	CPUs   float64 `json:"cpus,omitempty"`   // CPU seconds per second
}

// String is the limits for a log line.
func (l Limits) String() string {
	mem, cpu := "no memory limit", "no CPU limit"
	if l.Memory > 0 {
		mem = "memory " + HumanBytes(uint64(l.Memory))
	}
	if l.CPUs > 0 {
		cpu = "CPU " + strconv.FormatFloat(l.CPUs, 'f', -1, 64)
	}
	return mem + ", " + cpu
}

// Outcome is what a successful build pushed.
type Outcome struct {
	// Image is the pushed reference, <registry>/<name>:<tag>.
	Image string
	// Digest is the manifest digest in the registry.
	Digest string
	// Size is the compressed size: manifest, config and layers.
	Size int64
}

// Executor runs builds.
type Executor interface {
	// Run builds req and pushes the result, writing the build's output to
	// log as it comes. Cancelling ctx stops the build (with ErrCancelled
	// in the error chain) and removes what it was using. A failure is
	// described by the typed errors of this package where they apply.
	Run(ctx context.Context, req Request, log io.Writer) (Outcome, error)
	// Recover runs once at start-up, before any Run, with the jobs an
	// earlier process left Building. It removes what those builds left
	// behind and says, for each job, whether its build still runs
	// (Running: the queue then calls Attach) or is gone (Reason says why).
	Recover(ctx context.Context, building []Job) ([]Recovery, error)
	// Attach follows a build that Recover found running, as Run would have.
	Attach(ctx context.Context, job Job, log io.Writer) (Outcome, error)
	// Capabilities says what this executor's builds can do.
	Capabilities() Capabilities
}

// Capabilities are what an executor's builds can do, which the build plan
// (package plan) and the pages depend on.
type Capabilities struct {
	// KeepsLayers: a build can reuse the layers of earlier builds (the
	// in-process store, or a registry's layer cache for build pods).
	KeepsLayers bool
	// StepLimits: each build's steps run in a control group with the
	// build's Limits (and their Containerfile waits for it).
	StepLimits bool
}

// Recovery is what Recover found of one job's build.
type Recovery struct {
	JobID   int64
	Running bool
	// Failure is why a build that is not running is gone.
	Failure *failure.Failure
}

// ErrCancelled is in the error chain of a build stopped by its context.
var ErrCancelled = errors.New("build cancelled")

// Steps of a build, as StepError names them.
const (
	StepCondaCheck = "conda-check"
	StepAPT        = "apt"
	StepConda      = "conda"
	StepPip        = "pip"
)

// StepError is a build step that exited with a failure status.
type StepError struct {
	// Step is one of the Step constants, or "" for a step that is not a
	// package manager's.
	Step string
	// Status is the exit status.
	Status int
	Err    error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("step %q exited with status %d: %v", e.Step, e.Status, e.Err)
}
func (e *StepError) Unwrap() error { return e.Err }

// Failure is a step-failed failure; the queue reads the step's last log
// lines to name what went wrong (builder/diagnosis).
func (e *StepError) Failure() *failure.Failure {
	name := stepNames[e.Step]
	if name == "" {
		name = "a build step"
	}
	return failure.New(failure.StepFailed, fmt.Sprintf("%s failed (exit status %d); the log shows why", name, e.Status), e.Step, strconv.Itoa(e.Status))
}

// stepNames are how a failure names each package manager step.
var stepNames = map[string]string{
	StepCondaCheck: "the Conda check",
	StepAPT:        "the APT step",
	StepConda:      "the Conda step",
	StepPip:        "the Pip step",
}

// StepName is how a failure names step, e.g. "the APT step".
func StepName(step string) string {
	if name := stepNames[step]; name != "" {
		return name
	}
	return "a build step"
}

// AuthError is a registry refusing a pull or a push for lack of (valid)
// credentials.
type AuthError struct {
	// Push is true for the push of the result, false for the pull of the
	// base image.
	Push bool
	Err  error
}

func (e *AuthError) Error() string {
	op := "pull"
	if e.Push {
		op = "push"
	}
	return fmt.Sprintf("%s refused: authentication required: %v", op, e.Err)
}
func (e *AuthError) Unwrap() error { return e.Err }

// Failure is pull-auth or push-auth.
func (e *AuthError) Failure() *failure.Failure {
	if e.Push {
		return failure.New(failure.PushAuth, "the registry refused the push: authentication required; check the registry user name and password in Registry settings")
	}
	return failure.New(failure.PullAuth, "pulling the base image was refused: authentication required; choose a pull secret for its registry (in the spec or its Image Management entry)")
}

// DiskFullError is a build that ran out of disk, or was not started
// because too little was free.
type DiskFullError struct {
	// Path is the directory whose file system is full.
	Path string
	// Free and Need are set when the build was refused before it started.
	Free, Need uint64
	Err        error
}

func (e *DiskFullError) Error() string {
	if e.Need > 0 {
		return fmt.Sprintf("disk full: only %s free in %s; a build needs at least %s (--min-free-space)", HumanBytes(e.Free), e.Path, HumanBytes(e.Need))
	}
	return fmt.Sprintf("disk full: no space left in %s", e.Path)
}
func (e *DiskFullError) Unwrap() error { return e.Err }

// Failure is disk-space-low for a build refused before it started, else
// disk-full.
func (e *DiskFullError) Failure() *failure.Failure {
	if e.Need > 0 {
		return failure.New(failure.DiskSpaceLow, e.Error(), HumanBytes(e.Free), e.Path, HumanBytes(e.Need))
	}
	return failure.New(failure.DiskFull, e.Error(), e.Path)
}

// HumanBytes writes n in binary units, e.g. 1.5 GiB.
func HumanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// RegistryTimeoutError is a registry that did not answer in time, before a
// pull of the base image or the push of the result.
type RegistryTimeoutError struct {
	Host    string
	Push    bool
	Timeout time.Duration
	Err     error
}

func (e *RegistryTimeoutError) Error() string {
	if e.Push {
		return fmt.Sprintf("the registry %s did not answer within %s (pushing the image)", e.Host, e.Timeout)
	}
	return fmt.Sprintf("the registry %s did not answer within %s (pulling the base image)", e.Host, e.Timeout)
}
func (e *RegistryTimeoutError) Unwrap() error { return e.Err }

// Failure is registry-silent-pull or -push.
func (e *RegistryTimeoutError) Failure() *failure.Failure {
	if e.Push {
		return failure.New(failure.RegistrySilentOut, e.Error(), e.Host, e.Timeout.String())
	}
	return failure.New(failure.RegistrySilent, e.Error(), e.Host, e.Timeout.String())
}

// RegistryUnreachableError is a registry that refused the connection or
// could not be found.
type RegistryUnreachableError struct {
	Host string
	Push bool
	Err  error
}

func (e *RegistryUnreachableError) Error() string {
	if e.Push {
		return fmt.Sprintf("the registry %s cannot be reached (pushing the image): %v", e.Host, e.Err)
	}
	return fmt.Sprintf("the registry %s cannot be reached (pulling the base image): %v", e.Host, e.Err)
}
func (e *RegistryUnreachableError) Unwrap() error { return e.Err }

// Failure is registry-unreachable-pull or -push, with the innermost cause
// ("connect: connection refused").
func (e *RegistryUnreachableError) Failure() *failure.Failure {
	if e.Push {
		return failure.New(failure.UnreachableOut, e.Error(), e.Host, cause(e.Err))
	}
	return failure.New(failure.Unreachable, e.Error(), e.Host, cause(e.Err))
}

// cause is the innermost text of a network error: "connect: connection
// refused", not the URL and the operation around it.
func cause(err error) string {
	var op *net.OpError
	var dns *net.DNSError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &dns):
		return dns.Err
	case errors.As(err, &op) && op.Err != nil:
		return op.Err.Error()
	}
	return err.Error()
}

// BaseNotFoundError is a base image its registry does not have.
type BaseNotFoundError struct {
	Image string
	Err   error
}

func (e *BaseNotFoundError) Error() string {
	return fmt.Sprintf("the base image %s does not exist in its registry", e.Image)
}
func (e *BaseNotFoundError) Unwrap() error { return e.Err }

// Failure is base-not-found.
func (e *BaseNotFoundError) Failure() *failure.Failure {
	return failure.New(failure.BaseNotFound, e.Error(), e.Image)
}

// OutOfMemoryError is a build killed for going over its memory limit.
type OutOfMemoryError struct {
	// Limit is the limit it went over, e.g. "512Mi", or "" when unknown.
	Limit string
	Err   error
}

func (e *OutOfMemoryError) Error() string {
	if e.Limit != "" {
		return fmt.Sprintf("out of memory: the build went over its memory limit of %s", e.Limit)
	}
	return "out of memory: the build went over its memory limit"
}
func (e *OutOfMemoryError) Unwrap() error { return e.Err }

// Failure is out-of-memory, with the limit when known.
func (e *OutOfMemoryError) Failure() *failure.Failure {
	return failure.New(failure.OutOfMemory, e.Error(), e.Limit)
}

// DeadlineError is a build that a cluster stopped at its deadline (the
// build timeout).
type DeadlineError struct {
	Timeout time.Duration
}

func (e *DeadlineError) Error() string {
	return fmt.Sprintf("build timed out after %s", e.Timeout)
}

// Failure is timeout.
func (e *DeadlineError) Failure() *failure.Failure {
	return failure.New(failure.Timeout, e.Error(), e.Timeout.String())
}

// ClusterError is a build that a cluster could not start or ended for a
// reason of its own, not of the build: Code is one of the cluster's
// reasons (worker image missing, evicted, node lost, pod gone) and Detail
// the cluster's own words.
type ClusterError struct {
	Code   failure.Reason
	Detail string
}

// clusterEnglish starts the English message of a cluster's failure.
var clusterEnglish = map[failure.Reason]string{
	failure.WorkerImage: "the build pod could not start",
	failure.Evicted:     "Kubernetes evicted the build pod",
	failure.NodeLost:    "the build pod's node was lost",
	failure.PodGone:     "the build's Kubernetes Job is gone",
	failure.PodStopped:  "the build pod was stopped before its build ended",
	failure.PodRejected: "the cluster refused to create the build pod",
	failure.NoUserNS:    "the build pod is not privileged and may not make a user namespace",
}

func (e *ClusterError) Error() string {
	if start := clusterEnglish[e.Code]; start != "" {
		return start + ": " + e.Detail
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Detail)
}

// Failure is the cluster's reason with its words.
func (e *ClusterError) Failure() *failure.Failure {
	return failure.New(e.Code, e.Error(), e.Detail)
}

// Cancelled is the failure of a build stopped by its context for no
// reason the executor knows (the queue records its own).
func Cancelled(err error) *failure.Failure {
	return failure.New(failure.Cancelled, err.Error())
}

// CacheInfo is one package manager's cache on a build host (an executor
// that keeps caches between builds offers them to the Storage page).
type CacheInfo struct {
	// ID is the cache mount's id (spec.CacheAPT, spec.CacheConda, spec.CachePip).
	ID    string
	Bytes int64
	Files int
}

// ErrBuildsRunning refuses to clear the caches, or prune the store, while
// a build may use them.
var ErrBuildsRunning = errors.New("builds are running; try again when they have finished")

// PruneReport is what a prune of an executor's image store freed.
type PruneReport struct {
	// Before and After are the store's bytes; Images how many were removed.
	Before, After int64
	Images        int
}
