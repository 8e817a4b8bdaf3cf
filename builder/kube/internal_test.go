package kube

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"imagebuilder/builder/executor"
	"imagebuilder/builder/spec"
	"imagebuilder/db"
)

// The cluster's own reasons that the test cluster cannot be made to give
// on demand (an eviction, a lost node) map to their codes.
func TestPodLostMapsEvictionAndLostNodes(t *testing.T) {
	for _, c := range []struct {
		pod  corev1.PodStatus
		code string
	}{
		{corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted", Message: "The node was low on resource: memory."}, db.ReasonEvicted},
		{corev1.PodStatus{Phase: corev1.PodFailed, Reason: "NodeLost", Message: "node 127.0.0.1 which was running the pod is unresponsive"}, db.ReasonNodeLost},
		{corev1.PodStatus{Phase: corev1.PodFailed, Conditions: []corev1.PodCondition{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "DeletionByTaintManager"}}}, db.ReasonNodeLost},
		{corev1.PodStatus{Phase: corev1.PodFailed, Conditions: []corev1.PodCondition{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "TerminationByKubelet"}}}, db.ReasonEvicted},
		{corev1.PodStatus{Phase: corev1.PodRunning}, ""},
	} {
		err := podLost(&corev1.Pod{Status: c.pod})
		var ce *executor.ClusterError
		switch {
		case c.code == "" && err != nil:
			t.Errorf("%+v: %v", c.pod, err)
		case c.code != "" && (!errors.As(err, &ce) || ce.Code != c.code):
			t.Errorf("%+v: %v, want %s", c.pod, err, c.code)
		}
	}
}

// A worker's result crosses the termination message with its type.
func TestResultsKeepTheirType(t *testing.T) {
	for _, in := range []error{
		&executor.StepError{Step: executor.StepAPT, Status: 100, Err: errors.New("apt failed")},
		&executor.AuthError{Push: true, Err: errors.New("denied")},
		&executor.DiskFullError{Path: "/var/lib/imagebuilder", Free: 1, Need: 2},
		&executor.OutOfMemoryError{Err: errors.New("killed")},
	} {
		_, out := executor.DecodeResult(executor.EncodeResult(executor.Outcome{}, in))
		if out == nil || out.Error() == "" {
			t.Fatalf("%T lost", in)
		}
		switch want := in.(type) {
		case *executor.StepError:
			var got *executor.StepError
			if !errors.As(out, &got) || got.Step != want.Step || got.Status != want.Status {
				t.Errorf("step error became %#v", out)
			}
		case *executor.AuthError:
			var got *executor.AuthError
			if !errors.As(out, &got) || !got.Push {
				t.Errorf("auth error became %#v", out)
			}
		case *executor.DiskFullError:
			var got *executor.DiskFullError
			if !errors.As(out, &got) || got.Need != 2 || got.Path != want.Path {
				t.Errorf("disk full became %#v", out)
			}
		case *executor.OutOfMemoryError:
			var got *executor.OutOfMemoryError
			if !errors.As(out, &got) {
				t.Errorf("out of memory became %#v", out)
			}
		}
	}
	res, err := executor.DecodeResult(executor.EncodeResult(executor.Outcome{Image: "r/x:1", Digest: "sha256:ab", Size: 3}, nil))
	if err != nil || res.Digest != "sha256:ab" || res.Size != 3 {
		t.Errorf("outcome: %+v %v", res, err)
	}
}

// A build's package sources travel in its Secret, apart from the request:
// the request (which the pod's spec never holds either) has no credential,
// and the worker reads the sources file back whole.
func TestSourcesTravelInTheSecretOnly(t *testing.T) {
	k := &Executor{cfg: Config{Namespace: "builds", Instance: "x"}}
	src := spec.Sources{PipIndexURL: "https://ci:pw-MARKER@pypi.example.com/simple", CondaChannels: []string{"conda-forge"}}
	sec, err := k.secret(executor.Request{Job: db.Job{ID: 7, Snapshot: db.ImageSpec{Name: "a", BaseImage: "b"}}, Sources: src,
		PreviousAPT: [][]string{{"jq"}}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sec.Data[fileRequest]), "pw-MARKER") {
		t.Error("the request holds the index password")
	}
	if !strings.Contains(string(sec.Data[fileRequest]), `"previousAPT":[["jq"]]`) {
		t.Errorf("the request lacks the previous APT steps: %s", sec.Data[fileRequest])
	}
	var back spec.Sources
	if err := json.Unmarshal(sec.Data[fileSources], &back); err != nil || back.PipIndexURL != src.PipIndexURL {
		t.Errorf("sources file %q: %v", sec.Data[fileSources], err)
	}
}
