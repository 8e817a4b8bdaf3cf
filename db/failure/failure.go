// Package failure is why a build did not succeed, as one value that
// crosses every boundary the same way: the error an executor returns (in
// this process, or a build pod's termination message), the job's record in
// the store, the API, webhook payloads and metrics. A Failure is a reason
// code from a closed set, its arguments and, when a tool said why, the
// tool's own lines; pages word it in their reader's language from the code
// and the arguments, scripts branch on the code, and Message keeps it in
// English for logs. Nothing reads a failure's meaning from its text.
//
// It is a leaf: it imports no package of this module, so the executors,
// the store and the portal can all speak it.
package failure

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Reason is a failure's code.
type Reason string

// Reasons: why a job failed or was cancelled, with the arguments each
// takes.
const (
	Interrupted       Reason = "interrupted"               //
	Shutdown          Reason = "shutdown"                  //
	Cancelled         Reason = "cancelled"                 //
	SpecDeleted       Reason = "spec-deleted"              //
	Superseded        Reason = "superseded"                // revision
	Timeout           Reason = "timeout"                   // duration
	Silent            Reason = "silent-build"              // duration
	LogUnwritable     Reason = "log-unwritable"            // error
	DiskFullLog       Reason = "disk-full-log"             // error (names the file)
	DiskFull          Reason = "disk-full"                 // directory
	DiskSpaceLow      Reason = "disk-space-low"            // free, directory, needed
	RegistrySilent    Reason = "registry-silent-pull"      // host, duration
	RegistrySilentOut Reason = "registry-silent-push"      // host, duration
	PullAuth          Reason = "pull-auth"                 //
	PushAuth          Reason = "push-auth"                 //
	StepFailed        Reason = "step-failed"               // step (apt, conda-check, conda, pip or ""), exit status
	InvalidSpec       Reason = "invalid-spec"              // problems
	NoRegistry        Reason = "no-registry"               // error
	OutOfMemory       Reason = "out-of-memory"             // the memory limit, or ""
	BaseNotFound      Reason = "base-not-found"            // image
	Unreachable       Reason = "registry-unreachable-pull" // host, error
	UnreachableOut    Reason = "registry-unreachable-push" // host, error
	// A cluster's reasons (the Kubernetes executor); each takes the
	// cluster's own words.
	WorkerImage Reason = "worker-image"      // detail
	Evicted     Reason = "evicted"           // detail
	NodeLost    Reason = "node-lost"         // detail
	PodGone     Reason = "pod-gone"          // detail
	PodStopped  Reason = "pod-stopped"       // detail
	PodRejected Reason = "pod-rejected"      // detail (the admission's words)
	NoUserNS    Reason = "no-user-namespace" // detail
	// What a package tool said went wrong (Lines holds its line).
	APTNotFound   Reason = "apt-package-not-found"  // package
	APTVersion    Reason = "apt-version-not-found"  // package, version
	APTMissing    Reason = "apt-missing"            //
	PipNoMatch    Reason = "pip-no-match"           // requirement
	PipConflict   Reason = "pip-conflict"           // the conflicting requirements
	PipManaged    Reason = "pip-externally-managed" //
	PipMissing    Reason = "pip-missing"            //
	CondaMissing  Reason = "conda-missing"          //
	CondaNotFound Reason = "conda-not-found"        //
	CondaUnsat    Reason = "conda-unsatisfiable"    //
	// Other is a failure nothing could name; Message says what happened.
	Other Reason = ""
)

// Reasons is the closed set, for the tests that check each is worded in
// both languages and crosses every boundary.
var Reasons = []Reason{Interrupted, Shutdown, Cancelled, SpecDeleted, Superseded, Timeout, Silent, LogUnwritable,
	DiskFullLog, DiskFull, DiskSpaceLow, RegistrySilent, RegistrySilentOut, PullAuth, PushAuth, StepFailed, InvalidSpec,
	NoRegistry, OutOfMemory, BaseNotFound, Unreachable, UnreachableOut, WorkerImage, Evicted, NodeLost, PodGone, PodStopped, PodRejected, NoUserNS,
	APTNotFound, APTVersion, APTMissing, PipNoMatch, PipConflict, PipManaged, PipMissing, CondaMissing, CondaNotFound, CondaUnsat}

// Failure is why a build did not succeed.
type Failure struct {
	Reason Reason   `json:"reason"`
	Args   []string `json:"args,omitempty"`
	// Lines are the tool's own lines that say why (the first is the one a
	// page highlights in the log).
	Lines []string `json:"lines,omitempty"`
	// Message is the failure in English, for logs and readers that know
	// no reason codes.
	Message string `json:"message"`
}

// Error is Message.
func (f *Failure) Error() string { return f.Message }

// Text is Message, or "" for no failure (a nil f).
func (f *Failure) Text() string {
	if f == nil {
		return ""
	}
	return f.Message
}

// Code is the reason, or "" for no failure (a nil f).
func (f *Failure) Code() Reason {
	if f == nil {
		return ""
	}
	return f.Reason
}

// Quoted is the tool's line a page highlights (the first of Lines), or "".
func (f *Failure) Quoted() string {
	if f == nil || len(f.Lines) == 0 {
		return ""
	}
	return f.Lines[0]
}

// Is makes every *Failure of one reason match another: errors.Is(err,
// failure.New(failure.Timeout, "")) holds for any timeout. (Two Other
// failures match too: Is compares codes, never texts.)
func (f *Failure) Is(target error) bool {
	t, ok := target.(*Failure)
	return ok && t.Reason == f.Reason
}

// New is a failure of reason whose Message is message, or, when message is
// "", the reason and its arguments.
func New(reason Reason, message string, args ...string) *Failure {
	if message == "" {
		message = string(reason)
		if len(args) > 0 {
			message += ": " + strings.Join(args, ", ")
		}
	}
	return &Failure{Reason: reason, Args: args, Message: message}
}

// Carrier is an error that knows the failure it means (the executors'
// typed errors).
type Carrier interface {
	Failure() *Failure
}

// Of is the failure err means: a *Failure in its chain, or the Failure of
// a Carrier in it, or, for any other error, an Other failure with its text.
// A nil err is no failure.
func Of(err error) *Failure {
	if err == nil {
		return nil
	}
	var f *Failure
	if errors.As(err, &f) {
		return f
	}
	var c Carrier
	if errors.As(err, &c) {
		if f := c.Failure(); f != nil {
			return f
		}
	}
	return &Failure{Reason: Other, Message: err.Error()}
}

// maxEncoded keeps an encoded failure well inside the 4 KiB of a
// Kubernetes termination message, with room for an outcome beside it.
const maxEncoded = 3000

// Encode writes f as JSON, cutting its longest texts to fit a termination
// message.
func Encode(f *Failure) ([]byte, error) {
	b, err := json.Marshal(f)
	for cut := 1024; err == nil && len(b) > maxEncoded && cut >= 64; cut /= 2 {
		short := *f
		short.Message = clip(f.Message, cut)
		short.Args = clipAll(f.Args, cut)
		short.Lines = clipAll(f.Lines, cut)
		b, err = json.Marshal(&short)
	}
	return b, err
}

// Decode reads what Encode wrote.
func Decode(b []byte) (*Failure, error) {
	var f Failure
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("read a failure: %w", err)
	}
	return &f, nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

func clipAll(l []string, n int) []string {
	if l == nil {
		return nil
	}
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = clip(s, n)
	}
	return out
}
