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
	"imagebuilder/db/failure"
)

// The cluster's own reasons that the test cluster cannot be made to give
// on demand (an eviction, a lost node) map to their codes.
func TestPodLostMapsEvictionAndLostNodes(t *testing.T) {
	for _, c := range []struct {
		pod  corev1.PodStatus
		code failure.Reason
	}{
		{corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted", Message: "The node was low on resource: memory."}, failure.Evicted},
		{corev1.PodStatus{Phase: corev1.PodFailed, Reason: "NodeLost", Message: "node 127.0.0.1 which was running the pod is unresponsive"}, failure.NodeLost},
		{corev1.PodStatus{Phase: corev1.PodFailed, Conditions: []corev1.PodCondition{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "DeletionByTaintManager"}}}, failure.NodeLost},
		{corev1.PodStatus{Phase: corev1.PodFailed, Conditions: []corev1.PodCondition{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "TerminationByKubelet"}}}, failure.Evicted},
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

// A build's package sources travel in its Secret, apart from the request:
// the request (which the pod's spec never holds either) has no credential,
// and the worker reads the sources file back whole.
func TestSourcesTravelInTheSecretOnly(t *testing.T) {
	k := &Executor{cfg: Config{Namespace: "builds", Instance: "x"}}
	src := spec.Sources{PipIndexURL: "https://ci:pw-MARKER@pypi.example.com/simple", CondaChannels: []string{"conda-forge"}}
	sec, err := k.secret(executor.Request{Job: executor.Job{ID: 7, Snapshot: db.ImageSpec{Name: "a", BaseImage: "b"}}, Sources: src,
		PreviousAPT: [][]string{{"jq"}}}, newResultKey())
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
