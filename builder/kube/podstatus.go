package kube

// What a build pod's status says: waiting, lost, or its result.

import (
	"context"
	"fmt"
	"slices"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"imagebuilder/builder/executor"
	"imagebuilder/db/failure"
)

// condition is the Job's Failed (or FailureTarget) condition with that
// reason ("" for any), or nil.
func condition(j *batchv1.Job, reason string) *batchv1.JobCondition {
	for i, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobFailed || c.Type == batchv1.JobFailureTarget) && c.Status == corev1.ConditionTrue &&
			(reason == "" || c.Reason == reason) {
			return &j.Status.Conditions[i]
		}
	}
	return nil
}

func (k *Executor) newestPod(ctx context.Context, name string) (*corev1.Pod, error) {
	list, err := k.client.CoreV1().Pods(k.cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + name})
	if err != nil {
		return nil, err
	}
	if len(list.Items) == 0 {
		return nil, nil
	}
	slices.SortFunc(list.Items, func(a, b corev1.Pod) int {
		return b.CreationTimestamp.Compare(a.CreationTimestamp.Time)
	})
	return &list.Items[0], nil
}

// refusal is what the cluster said when it refused to create the Job's
// pod, from the Job controller's FailedCreate events: an admission's words
// (Pod Security, a policy webhook), with final set; or a full quota, which
// is not final (the pod comes when other pods end); or "".
func (k *Executor) refusal(ctx context.Context, kj *batchv1.Job) (msg string, final bool, err error) {
	sel := fields.Set{"involvedObject.kind": "Job", "involvedObject.uid": string(kj.UID), "reason": "FailedCreate"}
	list, err := k.client.CoreV1().Events(k.cfg.Namespace).List(ctx, metav1.ListOptions{FieldSelector: sel.AsSelector().String()})
	if err != nil {
		return "", false, err
	}
	for _, e := range list.Items {
		msg = strings.TrimPrefix(e.Message, "Error creating: ")
		if !strings.Contains(msg, "exceeded quota") {
			return msg, true, nil
		}
	}
	return msg, false, nil
}

// pendingReason is why a pending pod is not running yet: not scheduled
// (with the scheduler's words), or "".
func pendingReason(pod *corev1.Pod) string {
	if pod.Status.Phase != corev1.PodPending {
		return ""
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason != "" {
			return strings.TrimSpace(c.Reason + ": " + c.Message)
		}
	}
	return ""
}

func imageWait(pod *corev1.Pod) (string, string) {
	for _, s := range pod.Status.ContainerStatuses {
		if w := s.State.Waiting; w != nil && slices.Contains(imageWaits, w.Reason) {
			return w.Reason, w.Message
		}
	}
	return "", ""
}

// podLost is the error of a pod the cluster ended for a reason of its
// own: evicted (e.g. the node ran short of memory or disk) or its node lost.
func podLost(pod *corev1.Pod) error {
	switch pod.Status.Reason {
	case "Evicted":
		return &executor.ClusterError{Code: failure.Evicted, Detail: pod.Status.Message}
	case "NodeLost", "UnexpectedAdmissionError", "Terminated":
		return &executor.ClusterError{Code: failure.NodeLost, Detail: strings.TrimSpace(pod.Status.Reason + " " + pod.Status.Message)}
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue {
			switch c.Reason {
			case "TerminationByKubelet", "EvictionByEvictionAPI", "PreemptionByScheduler":
				return &executor.ClusterError{Code: failure.Evicted, Detail: strings.TrimSpace(c.Reason + " " + c.Message)}
			case "DeletionByPodGC", "DeletionByTaintManager":
				return &executor.ClusterError{Code: failure.NodeLost, Detail: strings.TrimSpace(c.Reason + " " + c.Message)}
			}
		}
	}
	return nil
}

// result reads how a finished pod's build ended: the worker's termination
// message, or the container's own state when the worker could not write
// one (killed for memory, say).
func (k *Executor) result(pod *corev1.Pod) (executor.Outcome, error) {
	for _, s := range pod.Status.ContainerStatuses {
		t := s.State.Terminated
		if s.Name != container || t == nil {
			continue
		}
		if t.Reason == "OOMKilled" {
			return executor.Outcome{}, &executor.OutOfMemoryError{Limit: k.memoryLimit(), Err: fmt.Errorf("pod %s: container OOMKilled (exit %d)", pod.Name, t.ExitCode)}
		}
		if strings.TrimSpace(t.Message) == "" {
			return executor.Outcome{}, fmt.Errorf("kubernetes: the build pod %s ended (%s, exit status %d) without a result", pod.Name, t.Reason, t.ExitCode)
		}
		return k.decode(t.Message)
	}
	return executor.Outcome{}, fmt.Errorf("kubernetes: the build pod %s ended (%s) without a container status", pod.Name, pod.Status.Phase)
}

// workerEnded says the build container has ended with a result of its own
// (or was killed for memory): what the pod's phase would say a moment
// later, once the kubelet has torn the pod down. A container ended with
// nothing to say (stopped at the deadline, say) waits for that phase and
// the Job's conditions.
func workerEnded(pod *corev1.Pod) bool {
	for _, s := range pod.Status.ContainerStatuses {
		if t := s.State.Terminated; s.Name == container && t != nil {
			return t.Reason == "OOMKilled" || strings.TrimSpace(t.Message) != ""
		}
	}
	return false
}

func (k *Executor) memoryLimit() string {
	if q, ok := k.cfg.Resources.Limits[corev1.ResourceMemory]; ok {
		return q.String()
	}
	return ""
}

// decode reads the worker's result (its termination message or its
// sealed result line), adding the pod's memory limit to an out-of-memory
// failure: the worker knew no limit; the pod's is the one it went over.
func (k *Executor) decode(msg string) (executor.Outcome, error) {
	out, err := executor.DecodeResult([]byte(msg))
	if f := failure.Of(err); f.Code() == failure.OutOfMemory {
		if limit := k.memoryLimit(); limit != "" {
			return out, (&executor.OutOfMemoryError{Limit: limit, Err: err}).Failure()
		}
	}
	return out, err
}
