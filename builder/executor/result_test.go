package executor_test

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"imagebuilder/builder/executor"
	"imagebuilder/builder/message"
	"imagebuilder/builder/spec"
	"imagebuilder/db/failure"
)

// Every failure an executor can end with reads back from a build pod's
// termination message exactly as the queue would have read it in this
// process: same reason, arguments, lines and message. The typed errors are
// the executors' own; the bare reasons cover the whole closed set. (A
// cancel is the exception: see TestCancelAndSuccessCrossTheWire.)
func TestEveryFailureCrossesThePodWireFormat(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
	cases := []error{
		&executor.StepError{Step: executor.StepAPT, Status: 100, Err: errors.New("apt failed")},
		&executor.StepError{Step: "", Status: 2, Err: errors.New("a step failed")},
		&executor.AuthError{Push: true, Err: errors.New("denied")},
		&executor.AuthError{Err: errors.New("unauthorized")},
		&executor.DiskFullError{Path: "/var/lib/imagebuilder", Free: 1 << 20, Need: 2 << 30},
		&executor.DiskFullError{Path: "/var/lib/imagebuilder", Err: errors.New("no space left on device")},
		&executor.RegistryTimeoutError{Host: "reg:5000", Timeout: time.Minute, Err: errors.New("silent")},
		&executor.RegistryTimeoutError{Host: "reg:5000", Push: true, Timeout: time.Minute, Err: errors.New("silent")},
		&executor.RegistryUnreachableError{Host: "reg:5000", Err: fmt.Errorf("pinging: %w", refused)},
		&executor.RegistryUnreachableError{Host: "reg:5000", Push: true, Err: &net.DNSError{Err: "no such host", Name: "reg"}},
		&executor.BaseNotFoundError{Image: "reg:5000/library/busybox:nope", Err: errors.New("manifest unknown")},
		&executor.OutOfMemoryError{Limit: "512Mi", Err: errors.New("killed")},
		&executor.OutOfMemoryError{Err: errors.New("killed")},
		&executor.DeadlineError{Timeout: time.Hour},
		&executor.ClusterError{Code: failure.WorkerImage, Detail: "ErrImagePull: no such image"},
		spec.ValidationError{{Field: "apt", Line: 1, Message: message.New("not a package: %q", "x y")}, {Field: "pip", Message: message.New("bad")}},
		errors.New("something nobody named"),
	}
	for _, r := range failure.Reasons {
		cases = append(cases, &failure.Failure{Reason: r, Args: []string{"one", "two, 三"}, Lines: []string{"E: the tool's line"}, Message: "the " + string(r) + " failure"})
	}
	seen := map[failure.Reason]bool{}
	for _, err := range cases {
		want := failure.Of(err)
		seen[want.Reason] = true
		if want.Reason == failure.Cancelled {
			continue
		}
		wire := executor.EncodeResult(executor.Outcome{}, err)
		if len(wire) > 4096 {
			t.Errorf("%T: %d bytes do not fit a termination message", err, len(wire))
		}
		_, back := executor.DecodeResult(wire)
		if got := failure.Of(back); !reflect.DeepEqual(got, want) {
			t.Errorf("%T %v:\n in this process %+v\n from the pod    %+v", err, err, want, got)
		}
	}
	for _, r := range append(failure.Reasons, failure.Other) {
		if !seen[r] {
			t.Errorf("reason %q never crossed", r)
		}
	}
	// A typed error names its reason in this process too.
	for _, c := range []struct {
		err  error
		want failure.Reason
		args []string
	}{
		{cases[8], failure.Unreachable, []string{"reg:5000", "connect: connection refused"}},
		{cases[9], failure.UnreachableOut, []string{"reg:5000", "no such host"}},
		{cases[10], failure.BaseNotFound, []string{"reg:5000/library/busybox:nope"}},
		{cases[0], failure.StepFailed, []string{"apt", "100"}},
		{cases[4], failure.DiskSpaceLow, []string{"1.0 MiB", "/var/lib/imagebuilder", "2.0 GiB"}},
	} {
		if f := failure.Of(c.err); f.Reason != c.want || !reflect.DeepEqual(f.Args, c.args) {
			t.Errorf("%T: %+v, want %s %q", c.err, f, c.want, c.args)
		}
	}
}

// A worker whose build was cancelled was stopped from outside (the queue's
// own cancel reads no result): it arrives as pod-stopped, with what the
// worker said. A success keeps what it pushed.
func TestCancelAndSuccessCrossTheWire(t *testing.T) {
	_, err := executor.DecodeResult(executor.EncodeResult(executor.Outcome{}, fmt.Errorf("%w: terminated", executor.ErrCancelled)))
	if errors.Is(err, executor.ErrCancelled) || failure.Of(err).Reason != failure.PodStopped || !strings.HasSuffix(failure.Of(err).Args[0], "terminated") {
		t.Errorf("a worker stopped from outside became %v", err)
	}
	res, err := executor.DecodeResult(executor.EncodeResult(executor.Outcome{Image: "r/x:1", Digest: "sha256:ab", Size: 3}, nil))
	if err != nil || res != (executor.Outcome{Image: "r/x:1", Digest: "sha256:ab", Size: 3}) {
		t.Errorf("outcome: %+v %v", res, err)
	}
}

// A failure too long for a termination message is cut, not lost: it keeps
// its reason and the start of each text.
func TestLongFailureIsCutToFit(t *testing.T) {
	long := strings.Repeat("版", 3000)
	in := &failure.Failure{Reason: failure.PipConflict, Args: []string{long}, Lines: []string{long, long}, Message: long}
	wire := executor.EncodeResult(executor.Outcome{}, in)
	if len(wire) > 4096 {
		t.Fatalf("%d bytes", len(wire))
	}
	_, err := executor.DecodeResult(wire)
	f := failure.Of(err)
	if f.Reason != failure.PipConflict || len(f.Lines) != 2 || !strings.HasPrefix(long, strings.TrimSuffix(f.Message, "…")) || f.Message == "" {
		t.Errorf("cut to %+v", f)
	}
}
