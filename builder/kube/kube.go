// Package kube runs builds on Kubernetes: the second implementation of
// executor.Executor. Each job becomes a Kubernetes Job whose one pod runs
// this same binary in worker mode (see Work), building with the Buildah
// library and pushing to the configured registry. The job's request and
// credentials reach the pod as a per-job Secret mounted as files, owned by
// the Job. The pod's log streams into the job's log; pod and Job states map
// to the executor's typed errors. It owns the Kubernetes objects it makes
// (labelled app.kubernetes.io/managed-by=imagebuilder and with its
// instance) and nothing else; it knows nothing of HTTP or job statuses.
package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"imagebuilder/builder/executor"
	"imagebuilder/db/failure"
)

// Labels on every object this package makes.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelInstance  = "imagebuilder.io/instance"
	LabelJob       = "imagebuilder.io/job-id"
	LabelSpec      = "imagebuilder.io/spec"
	LabelRevision  = "imagebuilder.io/revision"
	managedBy      = "imagebuilder"
	container      = "build"
	// JobDir is where the per-job Secret is mounted in the pod.
	JobDir = "/run/imagebuilder/job"
	// WorkDir is the pod's scratch data directory (an emptyDir).
	WorkDir = "/var/lib/imagebuilder"
	// CacheMount is where a build pod mounts the package cache volume.
	CacheMount = "/var/cache/imagebuilder-packages"
)

// Config says where and how build pods run.
type Config struct {
	// Kubeconfig is a kubeconfig file; "" uses the in-cluster config of
	// the pod the portal runs in.
	Kubeconfig string
	// Namespace the Jobs, pods and Secrets go in.
	Namespace string
	// Instance tells this portal's objects from another's in the same
	// namespace: lower-case letters and digits, at most 12.
	Instance string
	// ServiceAccount of the build pods ("" for the namespace's default).
	// Build pods get no service account token either way.
	ServiceAccount string
	// WorkerImage holds this binary (see the worker-image command).
	WorkerImage string
	// PullPolicy of the worker image (default IfNotPresent).
	PullPolicy corev1.PullPolicy
	// NodeSelector and Tolerations place build pods.
	NodeSelector map[string]string
	Tolerations  []corev1.Toleration
	// Resources of the build container (requests and limits).
	Resources corev1.ResourceRequirements
	// Privileged runs the build container privileged, which Buildah's
	// overlay storage and chroot isolation need on most clusters.
	Privileged bool
	// LayerCache keeps each spec's build layers in a cache repository of
	// the registry (registry.CacheRepository): a build pod, whose store
	// starts empty, pulls the unchanged steps from it and pushes new ones,
	// so builds keep their earlier APT steps as in-process ones do.
	LayerCache bool
	// HostNetwork runs build pods in the node's network, e.g. to reach a
	// registry that listens on the node's loopback.
	HostNetwork bool
	// TTL keeps a finished Job (and its pod's log) this long.
	TTL time.Duration
	// StateDir is where the executor notes how far it has copied each
	// build's log, so a re-attach after a restart does not copy it twice.
	StateDir string
	// Poll is how often a running build's pod and Job are looked at
	// besides when a watch on the pod reports a change (default 2s).
	Poll time.Duration
	// MinFreeSpace and RegistryTimeout are passed to the worker's engine.
	MinFreeSpace    uint64
	RegistryTimeout time.Duration
	// CacheVolume, when set, holds the package managers' caches for
	// every build pod (mounted at CacheMount; see ParseCacheVolume), with
	// MaxCacheSize their bound (0: none). Without it each build pod
	// starts with empty caches.
	CacheVolume  *corev1.VolumeSource
	MaxCacheSize int64
	// Log hears what the executor works around: a refused pod watch
	// (polling takes over) and API errors while following a build, each
	// kind at most once a minute.
	Log *slog.Logger
}

// Executor runs builds as Kubernetes Jobs.
type Executor struct {
	cfg    Config
	client kubernetes.Interface

	// fallbacks counts the builds whose pod watch was refused or failed
	// (see Fallbacks).
	fallbacks atomic.Int64
	// sealed counts the builds that ended on their sealed result line
	// (see SealedResults).
	sealed                atomic.Int64
	watchWarn, lookupWarn rate.Sometimes
}

// watchRetry is how long a build followed by polling after a refused pod
// watch waits before it asks for the watch again.
const watchRetry = 30 * time.Second

// Fallbacks is how many builds were followed by polling alone, at least
// for a while, because their pod watch was refused or failed: a Role
// without "watch" on pods, or an API server that breaks watches (an
// expired watch, which is asked for again at once, is not one). Tests
// hold it to zero.
func (k *Executor) Fallbacks() int64 { return k.fallbacks.Load() }

// SealedResults is how many builds ended on the worker's sealed result
// line rather than on the pod's status (resultline.go); tests check the
// line is what normally ends a build.
func (k *Executor) SealedResults() int64 { return k.sealed.Load() }

var _ executor.Executor = (*Executor)(nil)

// Capabilities: each build pod starts with an empty store, so earlier
// layers are kept only through the registry's layer cache; its limits are
// the pod's resources, not per-step control groups.
func (k *Executor) Capabilities() executor.Capabilities {
	return executor.Capabilities{KeepsLayers: k.cfg.LayerCache}
}

// RESTConfig loads the kubeconfig file, or the in-cluster config for "".
func RESTConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		c, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("kubernetes: no --kube-config and not in a cluster: %w", err)
		}
		return c, nil
	}
	c, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: read %s: %w", kubeconfig, err)
	}
	return c, nil
}

// New connects to the cluster and checks the configuration.
func New(cfg Config) (*Executor, error) {
	if cfg.Namespace == "" {
		cfg.Namespace = "default"
	}
	if cfg.WorkerImage == "" {
		return nil, errors.New("kubernetes: a worker image is required (--kube-worker-image; make one with the worker-image command)")
	}
	if cfg.Instance == "" || len(cfg.Instance) > 12 || strings.Trim(cfg.Instance, "abcdefghijklmnopqrstuvwxyz0123456789") != "" {
		return nil, fmt.Errorf("kubernetes: instance %q: use 1 to 12 lower-case letters and digits", cfg.Instance)
	}
	if cfg.PullPolicy == "" {
		cfg.PullPolicy = corev1.PullIfNotPresent
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 10 * time.Minute
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 2 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.StateDir != "" {
		if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
			return nil, fmt.Errorf("kubernetes: state directory: %w", err)
		}
	}
	rc, err := RESTConfig(cfg.Kubeconfig)
	if err != nil {
		return nil, err
	}
	// Each running build watches its pod and looks at its Job now and
	// then; client-go's default of 5 requests a second throttles a few
	// parallel builds.
	rc.QPS, rc.Burst = 50, 100
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: client: %w", err)
	}
	return &Executor{cfg: cfg, client: client, watchWarn: rate.Sometimes{Interval: time.Minute},
		lookupWarn: rate.Sometimes{Interval: time.Minute}}, nil
}

// Client is the executor's Kubernetes client.
func (k *Executor) Client() kubernetes.Interface { return k.client }

// WorkerImage is the image of the build pods.
func (k *Executor) WorkerImage() string { return k.cfg.WorkerImage }

// Namespace is where the executor's objects go.
func (k *Executor) Namespace() string { return k.cfg.Namespace }

// JobName is the Kubernetes Job (and Secret) name of an Image Builder job.
func (k *Executor) JobName(jobID int64) string {
	return fmt.Sprintf("imagebuilder-%s-%d", k.cfg.Instance, jobID)
}

func (k *Executor) labels(job executor.Job) map[string]string {
	return map[string]string{
		LabelManagedBy: managedBy,
		LabelInstance:  k.cfg.Instance,
		LabelJob:       strconv.FormatInt(job.ID, 10),
		LabelSpec:      job.SpecName,
		LabelRevision:  strconv.Itoa(job.Revision),
	}
}

// Run creates the job's Secret and Job and follows its pod; see
// executor.Executor.
func (k *Executor) Run(ctx context.Context, req executor.Request, log io.Writer) (executor.Outcome, error) {
	name := k.JobName(req.Job.ID)
	// A Job of this name is left from an attempt that never got recorded.
	if err := k.remove(ctx, name, false); err != nil {
		return executor.Outcome{}, err
	}
	key := newResultKey()
	secret, err := k.secret(req, key)
	if err != nil {
		return executor.Outcome{}, err
	}
	secrets := k.client.CoreV1().Secrets(k.cfg.Namespace)
	if _, err := secrets.Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		return executor.Outcome{}, fmt.Errorf("kubernetes: create Secret %s: %w", name, err)
	}
	job := k.job(req.Job, ctx)
	created, err := k.client.BatchV1().Jobs(k.cfg.Namespace).Create(ctx, job, metav1.CreateOptions{})
	if err != nil {
		_ = secrets.Delete(context.WithoutCancel(ctx), name, metav1.DeleteOptions{})
		return executor.Outcome{}, fmt.Errorf("kubernetes: create Job %s: %w", name, err)
	}
	// The Secret goes with the Job, whatever ends it.
	secret.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(created, batchv1.SchemeGroupVersion.WithKind("Job"))}
	if _, err := secrets.Update(ctx, secret, metav1.UpdateOptions{}); err != nil && ctx.Err() == nil {
		// It still goes when the build ends (cleanSecret); only a portal
		// that dies mid-build leaves it, for Recover to remove.
		k.cfg.Log.Warn("kubernetes: the build's Secret could not be owned by its Job (does the Role allow update on jobs/finalizers?)", "secret", name, "err", err)
		fmt.Fprintf(log, "Image Builder: note: the Secret %s is removed when the build ends, not by Kubernetes with its Job: the portal may not make the Job its owner (grant update on jobs/finalizers)\n", name)
	}
	fmt.Fprintf(log, "Image Builder: Kubernetes Job %s/%s created; waiting for its pod\n", k.cfg.Namespace, name)
	return k.follow(ctx, req.Job, key, log)
}

// Attach follows a Job that Recover found; see executor.Executor.
func (k *Executor) Attach(ctx context.Context, job executor.Job, log io.Writer) (executor.Outcome, error) {
	name := k.JobName(job.ID)
	fmt.Fprintf(log, "Image Builder: Kubernetes Job %s/%s is still there; following its pod again\n", k.cfg.Namespace, name)
	// The key that opens the worker's result line is in the build's
	// Secret while the build runs; without it the pod's status says.
	var key []byte
	if s, err := k.client.CoreV1().Secrets(k.cfg.Namespace).Get(ctx, name, metav1.GetOptions{}); err == nil {
		key = s.Data[fileResultKey]
	}
	return k.follow(ctx, job, key, log)
}

// Recover looks for the Job of each job an earlier process left Building:
// one still there is followed again (Running), one gone fails. Jobs and
// Secrets of this instance that belong to no building job are removed.
func (k *Executor) Recover(ctx context.Context, building []executor.Job) ([]executor.Recovery, error) {
	out := make([]executor.Recovery, 0, len(building))
	keep := map[string]bool{}
	for _, j := range building {
		name := k.JobName(j.ID)
		_, err := k.client.BatchV1().Jobs(k.cfg.Namespace).Get(ctx, name, metav1.GetOptions{})
		switch {
		case err == nil:
			keep[name] = true
			out = append(out, executor.Recovery{JobID: j.ID, Running: true})
		case apierrors.IsNotFound(err):
			gone := &executor.ClusterError{Code: failure.PodGone,
				Detail: fmt.Sprintf("Job %s/%s was deleted while the server was down", k.cfg.Namespace, name)}
			out = append(out, executor.Recovery{JobID: j.ID, Failure: gone.Failure()})
		default:
			return nil, fmt.Errorf("kubernetes: look for Job %s: %w", name, err)
		}
	}
	sel := metav1.ListOptions{LabelSelector: LabelManagedBy + "=" + managedBy + "," + LabelInstance + "=" + k.cfg.Instance}
	jobs, err := k.client.BatchV1().Jobs(k.cfg.Namespace).List(ctx, sel)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: list Jobs: %w", err)
	}
	for _, j := range jobs.Items {
		if !keep[j.Name] && !finished(&j) {
			if err := k.remove(ctx, j.Name, false); err != nil {
				return nil, err
			}
		}
	}
	secrets, err := k.client.CoreV1().Secrets(k.cfg.Namespace).List(ctx, sel)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: list Secrets: %w", err)
	}
	for _, s := range secrets.Items {
		if !keep[s.Name] {
			if err := k.client.CoreV1().Secrets(k.cfg.Namespace).Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("kubernetes: delete Secret %s: %w", s.Name, err)
			}
		}
	}
	return out, nil
}

// remove deletes a Job, its pods and its Secret; with wait, it returns
// once the pods are gone.
func (k *Executor) remove(ctx context.Context, name string, wait bool) error {
	ctx = context.WithoutCancel(ctx)
	policy := metav1.DeletePropagationBackground
	err := k.client.BatchV1().Jobs(k.cfg.Namespace).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &policy})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("kubernetes: delete Job %s: %w", name, err)
	}
	err = k.client.CoreV1().Secrets(k.cfg.Namespace).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("kubernetes: delete Secret %s: %w", name, err)
	}
	pods := k.client.CoreV1().Pods(k.cfg.Namespace)
	sel := metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + name}
	// The garbage collector deletes the pods soon; do it now, so a
	// cancelled build stops at once.
	list, err := pods.List(ctx, sel)
	if err != nil {
		return fmt.Errorf("kubernetes: list pods of %s: %w", name, err)
	}
	for _, p := range list.Items {
		if err := pods.Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("kubernetes: delete pod %s: %w", p.Name, err)
		}
	}
	for deadline := time.Now().Add(2 * time.Minute); wait && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		list, err := pods.List(ctx, sel)
		if err != nil || len(list.Items) == 0 {
			break
		}
	}
	return nil
}

func finished(j *batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// deadlineFrom is the Job's activeDeadlineSeconds: what is left of the
// build's timeout, so the cluster stops the pod when the portal gives up.
func deadlineFrom(ctx context.Context) *int64 {
	d, ok := ctx.Deadline()
	if !ok {
		return nil
	}
	s := int64(math.Ceil(time.Until(d).Seconds()))
	if s < 1 {
		s = 1
	}
	return &s
}

func (k *Executor) job(j executor.Job, ctx context.Context) *batchv1.Job {
	name := k.JobName(j.ID)
	labels := k.labels(j)
	noRetry, ttl := int32(0), int32(k.cfg.TTL.Seconds())
	noToken, privileged := false, k.cfg.Privileged
	mode := int32(0o400)
	args := []string{"worker", "--job-dir", JobDir, "--data-dir", WorkDir}
	mounts := []corev1.VolumeMount{
		{Name: "job", MountPath: JobDir, ReadOnly: true},
		{Name: "work", MountPath: WorkDir},
	}
	volumes := []corev1.Volume{
		{Name: "job", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: name, DefaultMode: &mode}}},
		{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	if k.cfg.CacheVolume != nil {
		mounts = append(mounts, corev1.VolumeMount{Name: "package-caches", MountPath: CacheMount})
		volumes = append(volumes, corev1.Volume{Name: "package-caches", VolumeSource: *k.cfg.CacheVolume})
	}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: k.cfg.Namespace, Labels: labels},
		Spec: batchv1.JobSpec{
			BackoffLimit:            &noRetry,
			ActiveDeadlineSeconds:   deadlineFrom(ctx),
			TTLSecondsAfterFinished: &ttl,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					RestartPolicy:                corev1.RestartPolicyNever,
					ServiceAccountName:           k.cfg.ServiceAccount,
					AutomountServiceAccountToken: &noToken,
					EnableServiceLinks:           &noToken,
					HostNetwork:                  k.cfg.HostNetwork,
					DNSPolicy:                    dnsPolicy(k.cfg.HostNetwork),
					NodeSelector:                 k.cfg.NodeSelector,
					Tolerations:                  k.cfg.Tolerations,
					Containers: []corev1.Container{{
						Name:            container,
						Image:           k.cfg.WorkerImage,
						ImagePullPolicy: k.cfg.PullPolicy,
						Command:         []string{"/usr/local/bin/imagebuilder"},
						Args:            args,
						Env: []corev1.EnvVar{{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{
							FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
						Resources:                k.cfg.Resources,
						SecurityContext:          &corev1.SecurityContext{Privileged: &privileged},
						TerminationMessagePolicy: corev1.TerminationMessageReadFile,
						VolumeMounts:             mounts,
					}},
					Volumes: volumes,
				},
			},
		},
	}
}

// dnsPolicy lets a build pod in the node's network still resolve the
// cluster's names (a registry at *.svc), which the default policy of such
// pods (the node's resolver) does not.
func dnsPolicy(hostNetwork bool) corev1.DNSPolicy {
	if hostNetwork {
		return corev1.DNSClusterFirstWithHostNet
	}
	return corev1.DNSClusterFirst
}

// Reasons a pod's container waits that mean its image cannot be had.
var imageWaits = []string{"ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName", "ImageInspectError"}

// lookupFailed logs, at most once a minute, that following a build could
// not read its Job or pod.
func (k *Executor) lookupFailed(ctx context.Context, jobID int64, err error) {
	if ctx.Err() != nil {
		return
	}
	k.lookupWarn.Do(func() {
		k.cfg.Log.Warn("kubernetes: looking at a build's Job or pod failed; trying again", "job", jobID, "err", err)
	})
}

// follow watches a job's pod until it ends, copying its log, and says how
// it ended: from the worker's result line sealed with key as soon as the
// log brings it, else from the pod's status (resultline.go). A cancelled
// ctx deletes the Job and its pods.
func (k *Executor) follow(ctx context.Context, job executor.Job, key []byte, log io.Writer) (executor.Outcome, error) {
	name := k.JobName(job.ID)
	stream := &logCopier{k: k, jobID: job.ID, log: log, key: key, results: make(chan []byte, 1)}
	stream.since = stream.loadMark()
	var streamDone chan struct{}
	var streamPod, waitingFor string
	streamCtx, stopStream := context.WithCancel(ctx)
	defer stopStream()
	endStream := func() {
		if streamDone != nil {
			select {
			case <-streamDone:
			case <-time.After(15 * time.Second):
			}
		}
		stream.clearMark()
	}
	// A watch on the Job's pods wakes the loop on every change; the
	// ticker is the fallback when the watch breaks or says nothing.
	tick := time.NewTicker(k.cfg.Poll)
	defer tick.Stop()
	var events <-chan watch.Event
	var w watch.Interface
	defer func() {
		if w != nil {
			w.Stop()
		}
	}()
	// After a refused watch, polling alone follows the build and the
	// watch is asked for again only now and then; after a failed one, a
	// second later. Either counts once per build (Fallbacks).
	refused, watchAgain := false, time.Time{}
	fellBack := func() {
		if !refused {
			refused = true
			k.fallbacks.Add(1)
		}
	}
	for {
		if events == nil && !time.Now().Before(watchAgain) {
			if w != nil {
				w.Stop()
			}
			var err error
			// From any resource version the API server's watch cache
			// has (it sends the pods there are first): a watch from
			// "now" waits until that cache has caught up with etcd,
			// up to 3 s where etcd cannot say how far it is (before
			// 3.4.31 and 3.5.13), and then ends with an error.
			w, err = k.client.CoreV1().Pods(k.cfg.Namespace).Watch(ctx, metav1.ListOptions{
				LabelSelector: "batch.kubernetes.io/job-name=" + name, ResourceVersion: "0"})
			if err == nil {
				events = w.ResultChan()
			} else if ctx.Err() == nil {
				w, watchAgain = nil, time.Now().Add(watchRetry)
				fellBack()
				k.watchWarn.Do(func() {
					k.cfg.Log.Warn("kubernetes: the pod watch was refused; polling instead (does the Role allow watch on pods?)",
						"job", job.ID, "every", k.cfg.Poll, "err", err)
				})
			}
		}
		select {
		case <-ctx.Done():
			err := k.remove(ctx, name, true)
			endStream()
			return executor.Outcome{}, errors.Join(fmt.Errorf("%w: %w", executor.ErrCancelled, context.Cause(ctx)), err)
		case ev, ok := <-events:
			switch {
			case !ok: // the API server ends watches now and then
				events = nil
			case ev.Type == watch.Error:
				// An expired watch is asked for again at once; one that
				// fails otherwise leaves polling alone to follow the
				// build for a second.
				events = nil
				if err := apierrors.FromObject(ev.Object); !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
					watchAgain = time.Now().Add(time.Second)
					fellBack()
					k.watchWarn.Do(func() {
						k.cfg.Log.Warn("kubernetes: the pod watch failed; polling until it is asked for again",
							"job", job.ID, "err", err)
					})
				}
			}
		case body := <-stream.results:
			stopStream() // the result is the worker's last line
			endStream()
			out, err := k.sealedResult(body)
			k.cleanSecret(ctx, name)
			return out, err
		case <-tick.C:
		}
		kj, err := k.client.BatchV1().Jobs(k.cfg.Namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			endStream()
			return executor.Outcome{}, &executor.ClusterError{Code: failure.PodGone,
				Detail: fmt.Sprintf("the Kubernetes Job %s/%s was deleted during the build", k.cfg.Namespace, name)}
		}
		if err != nil {
			k.lookupFailed(ctx, job.ID, err) // the API server is busy or restarting: look again
			continue
		}
		pod, err := k.newestPod(ctx, name)
		if err != nil {
			k.lookupFailed(ctx, job.ID, err)
			continue
		}
		if pod != nil {
			if why, msg := imageWait(pod); why != "" {
				_ = k.remove(ctx, name, false)
				return executor.Outcome{}, &executor.ClusterError{Code: failure.WorkerImage,
					Detail: fmt.Sprintf("the worker image %s cannot be used: %s %s", k.cfg.WorkerImage, why, msg)}
			}
			// Say once why a pod waits (no node fits, a volume, ...).
			if why := pendingReason(pod); why != "" && why != waitingFor {
				waitingFor = why
				fmt.Fprintf(log, "Image Builder: the build pod %s is waiting: %s\n", pod.Name, why)
			}
			started := pod.Status.Phase != corev1.PodPending
			if started && streamPod != pod.Name {
				streamPod = pod.Name
				streamDone = make(chan struct{})
				go func(pod string, done chan struct{}) {
					defer close(done)
					stream.copy(streamCtx, pod)
				}(pod.Name, streamDone)
			}
		}
		if c := condition(kj, "DeadlineExceeded"); c != nil {
			endStream()
			_ = k.remove(ctx, name, false)
			d := time.Duration(0)
			if kj.Spec.ActiveDeadlineSeconds != nil {
				d = time.Duration(*kj.Spec.ActiveDeadlineSeconds) * time.Second
			}
			return executor.Outcome{}, &executor.DeadlineError{Timeout: d}
		}
		if pod == nil {
			// A pod the cluster refuses to create never comes: say why
			// now rather than at the build's timeout.
			msg, final, err := k.refusal(ctx, kj)
			switch {
			case err != nil:
				k.lookupFailed(ctx, job.ID, err)
			case final:
				_ = k.remove(ctx, name, false)
				return executor.Outcome{}, &executor.ClusterError{Code: failure.PodRejected, Detail: msg}
			case msg != "" && msg != waitingFor:
				waitingFor = msg
				fmt.Fprintf(log, "Image Builder: the build pod cannot be created yet: %s\n", msg)
			}
			if c := condition(kj, ""); c != nil {
				k.cleanSecret(ctx, name)
				return executor.Outcome{}, &executor.ClusterError{Code: failure.PodGone,
					Detail: fmt.Sprintf("the Kubernetes Job %s failed without a pod: %s %s", name, c.Reason, c.Message)}
			}
			continue
		}
		if gone := podLost(pod); gone != nil {
			endStream()
			_ = k.remove(ctx, name, false)
			return executor.Outcome{}, gone
		}
		if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed || workerEnded(pod) {
			endStream()
			// The sealed line may have come while this loop looked at
			// the pod: it is the same result, and counts as the line.
			var out executor.Outcome
			select {
			case body := <-stream.results:
				out, err = k.sealedResult(body)
			default:
				out, err = k.result(pod)
			}
			k.cleanSecret(ctx, name)
			return out, err
		}
	}
}

// sealedResult decodes the body of the worker's sealed result line and
// counts the build as ended on it (SealedResults).
func (k *Executor) sealedResult(body []byte) (executor.Outcome, error) {
	k.sealed.Add(1)
	return k.decode(string(body))
}

// cleanSecret removes a finished build's Secret at once, rather than with
// its Job when the Job's TTL runs out: the credentials are not kept longer
// than the build needs them.
func (k *Executor) cleanSecret(ctx context.Context, name string) {
	_ = k.client.CoreV1().Secrets(k.cfg.Namespace).Delete(context.WithoutCancel(ctx), name, metav1.DeleteOptions{})
}
