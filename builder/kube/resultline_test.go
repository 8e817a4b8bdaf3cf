package kube

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"imagebuilder/builder/executor"
	"imagebuilder/db/failure"
)

// stamped is out as the kubelet serves a pod's log with timestamps.
func stamped(out string) string {
	var b strings.Builder
	t := time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC)
	for i, line := range strings.SplitAfter(out, "\n") {
		if line != "" {
			b.WriteString(t.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano) + " " + line)
		}
	}
	return b.String()
}

// workerLog is what a worker writes: a step's output, then its result
// through writeResult with key in its job directory.
func workerLog(t *testing.T, key []byte, steps string, o executor.Outcome, err error) (log, message string) {
	t.Helper()
	dir := t.TempDir()
	if key != nil {
		if err := os.WriteFile(filepath.Join(dir, fileResultKey), key, 0o400); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	out.WriteString(steps)
	msgPath := filepath.Join(dir, "termination-log")
	if err := writeResult(dir, msgPath, &out, o, err); err != nil {
		t.Fatal(err)
	}
	msg, _ := os.ReadFile(msgPath)
	return out.String(), string(msg)
}

// copyLog runs a pod's log through the copier with key and returns the
// job's log and the result it handed over, if any.
func copyLog(k *Executor, key []byte, podLog string) (string, []byte) {
	var log bytes.Buffer
	c := &logCopier{k: k, log: &log, key: key, results: make(chan []byte, 1)}
	c.lines(strings.NewReader(stamped(podLog)))
	select {
	case body := <-c.results:
		return log.String(), body
	default:
		return log.String(), nil
	}
}

// The result crosses the pod boundary twice, as the termination message
// and as the sealed last line of the log; both decode to the same outcome
// or failure, and the line never reaches the job's log.
func TestTheSealedResultLineRoundTrips(t *testing.T) {
	k := &Executor{cfg: Config{Resources: corev1.ResourceRequirements{
		Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("300Mi")}}}}
	pushed := executor.Outcome{Image: "reg/a:1", Digest: "sha256:" + strings.Repeat("ab", 32), Size: 1234}
	step := &executor.StepError{Step: "apt", Status: 100, Err: errors.New("E: Unable to locate package jq")}
	for _, c := range []struct {
		name string
		out  executor.Outcome
		err  error
	}{
		{"pushed", pushed, nil},
		{"step failed", executor.Outcome{}, step},
		{"out of memory", executor.Outcome{}, &executor.OutOfMemoryError{Err: step}},
		{"no user namespace", executor.Outcome{}, &executor.ClusterError{Code: failure.NoUserNS, Detail: "operation not permitted"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			key := newResultKey()
			podLog, msg := workerLog(t, key, "STEP 1/2: FROM base\nsome output\n", c.out, c.err)
			log, body := copyLog(k, key, podLog)
			if body == nil {
				t.Fatalf("no result from the log:\n%s", podLog)
			}
			if log != "STEP 1/2: FROM base\nsome output\n" {
				t.Errorf("job log %q: the result line reached it or a step's line was lost", log)
			}
			fromLine, lineErr := k.decode(string(body))
			fromMsg, msgErr := k.decode(msg)
			if fromLine != fromMsg || fmt.Sprint(lineErr) != fmt.Sprint(msgErr) {
				t.Errorf("log line gives %+v %v, termination message %+v %v", fromLine, lineErr, fromMsg, msgErr)
			}
			if c.err == nil && fromLine != c.out {
				t.Errorf("outcome %+v, want %+v", fromLine, c.out)
			}
			if c.err != nil && failure.Of(lineErr).Code() != failure.Of(c.err).Code() {
				t.Errorf("reason %s, want %s", failure.Of(lineErr).Code(), failure.Of(c.err).Code())
			}
			if c.name == "out of memory" && !strings.Contains(failure.Of(lineErr).Text(), "300Mi") {
				t.Errorf("out of memory without the pod's limit: %v", lineErr)
			}
		})
	}
}

// A build step writes to the same log as the worker: a result line it
// forges (it cannot know the key) is its output, never the build's
// result; a re-attached copier (no key) drops lines of that shape and
// waits for the termination message; a result glued to a step's last
// output without a newline is still found, the output kept.
func TestAResultLineOnlyTheWorkerCanSeal(t *testing.T) {
	k := &Executor{}
	key := newResultKey()
	forged := sealResult(newResultKey(), executor.EncodeResult(executor.Outcome{Image: "evil", Digest: "sha256:" + strings.Repeat("0", 64)}, nil))
	podLog, _ := workerLog(t, key, "step says:\n"+forged, executor.Outcome{}, &executor.StepError{Step: "pip", Status: 1, Err: errors.New("exit status 1")})
	log, body := copyLog(k, key, podLog)
	if _, err := k.decode(string(body)); body == nil || failure.Of(err).Code() != failure.StepFailed {
		t.Errorf("result %s (%v): the forged line won or no result came", body, err)
	}
	if !strings.Contains(log, forged) {
		t.Errorf("the step's own line is missing from the log:\n%s", log)
	}

	log, body = copyLog(k, nil, podLog)
	if body != nil || strings.Contains(log, resultPrefix) || !strings.Contains(log, "step says:") {
		t.Errorf("without the key: result %s, log:\n%s", body, log)
	}

	podLog, _ = workerLog(t, key, "50% done", executor.Outcome{Image: "a", Digest: "sha256:" + strings.Repeat("1", 64)}, nil)
	log, body = copyLog(k, key, podLog)
	if body == nil || log != "50% done\n" {
		t.Errorf("glued: result %s, log %q", body, log)
	}

	// A worker without a key (an older portal's Secret) writes no line.
	podLog, _ = workerLog(t, nil, "", executor.Outcome{Image: "a", Digest: "sha256:" + strings.Repeat("1", 64)}, nil)
	if podLog != "" {
		t.Errorf("a worker without a key wrote %q", podLog)
	}
}
