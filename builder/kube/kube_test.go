package kube_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"imagebuilder/builder/engine/enginetest"
	"imagebuilder/builder/executor"
	"imagebuilder/builder/kube"
	"imagebuilder/builder/kube/kubetest"
	"imagebuilder/builder/logs"
	"imagebuilder/builder/logs/logstest"
	"imagebuilder/builder/queue"
	"imagebuilder/builder/registry"
	"imagebuilder/db"
	"imagebuilder/db/dbtest"
	"imagebuilder/db/failure"
)

func TestMain(m *testing.M) {
	enginetest.Main(wrap{m})
}

// wrap stops the cluster after the tests and before the engine rig
// closes.
type wrap struct{ m *testing.M }

func (w wrap) Run() int {
	before := kubetest.Traces()
	code := w.m.Run()
	if err := kubetest.Stop(); err != nil {
		os.Stderr.WriteString("stop the test cluster: " + err.Error() + "\n")
		if code == 0 {
			code = 1
		}
	}
	// The cluster's teardown leaves none of the kubelet's chains and
	// control groups that were not there before.
	if left := kubetest.Traces(); len(before) == 0 && len(left) > 0 {
		os.Stderr.WriteString("the test cluster left on the host: " + strings.Join(left, ", ") + "\n")
		if code == 0 {
			code = 1
		}
	}
	return code
}

// aptBase is a busybox image whose apt-get runs script: the build's APT
// step, whatever the packages.
func aptBase(t testing.TB, r *enginetest.Rig, name, script string) string {
	t.Helper()
	quoted, _ := json.Marshal("mkdir -p /usr/bin && printf '" + strings.ReplaceAll(script, "\n", `\n`) + "' > /usr/bin/apt-get && chmod +x /usr/bin/apt-get")
	cf := "FROM " + r.Busybox(t) + "\nRUN [\"/bin/sh\",\"-c\"," + string(quoted) + "]\n"
	return r.Derived(t, cf, r.Target.Host+"/library/"+name+":1")
}

// pullSecretMarker is the password in the test pull secret: it must reach
// the build pod through its Secret and nowhere else.
const pullSecretMarker = "pull-secret-password-3f9a1c"

type rig struct {
	r       *enginetest.Rig
	c       *kubetest.Cluster
	ns      string
	exec    *kube.Executor
	q       *queue.Queue
	store   *db.DB
	logs    *logs.Store
	dataDir string
	// reg is where builds push (the test registry unless a test says).
	reg registry.Target
}

// newRig is a queue whose builds run as Jobs in a fresh namespace of the
// test cluster; change adjusts the executor's configuration.
func newRig(t testing.TB, timeout time.Duration, change func(*kube.Config)) *rig {
	t.Helper()
	return newRigN(t, timeout, 2, change)
}

// newRigN is newRig with that many queue workers.
func newRigN(t testing.TB, timeout time.Duration, workers int, change func(*kube.Config)) *rig {
	t.Helper()
	r := enginetest.Get(t)
	c := kubetest.Get(t)
	cfg := kube.Config{
		Kubeconfig: c.Kubeconfig, Namespace: c.Namespace(t), Instance: "t1",
		WorkerImage: c.WorkerImage(t, r), PullPolicy: corev1.PullNever,
		Privileged: true, HostNetwork: true, LayerCache: true, StateDir: filepath.Join(t.TempDir(), "kube"),
	}
	if change != nil {
		change(&cfg)
	}
	ex, err := kube.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	store, err := db.Open(filepath.Join(dir, "imagebuilder.db"))
	if err != nil {
		t.Fatal(err)
	}
	logStore, err := logs.NewStore(filepath.Join(dir, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	g := &rig{r: r, c: c, ns: cfg.Namespace, exec: ex, store: store, logs: logStore, dataDir: dir, reg: r.Target}
	q := queue.New(store, ex, logStore, queue.Config{
		Workers:  workers,
		Timeout:  timeout,
		Registry: func(context.Context) (registry.Target, error) { return g.reg, nil },
		PullSecret: func(_ context.Context, name string) ([]byte, error) {
			return []byte(`{"auths":{"` + r.Target.Host + `":{"username":"puller","password":"` + pullSecretMarker + `"}}}`), nil
		},
	})
	// The spec names it; the queue's PullSecret func gives its content.
	if err := store.SavePullSecret(context.Background(), "team", []byte("sealed elsewhere")); err != nil {
		t.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = q.Stop(ctx)
		store.Close()
		// Every build was followed by its pod watch, never by polling alone.
		if n := ex.Fallbacks(); n != 0 {
			t.Errorf("%d pod watches were refused; polling followed the builds", n)
		}
	})
	g.q = q
	return g
}

// wait waits for the job to reach one of want; for an ended job, also
// for its log to close (its last line is written after the status, see
// the queue's finish), so g.log then reads the whole log.
func (g *rig) wait(t testing.TB, id int64, want ...db.Status) db.Job {
	t.Helper()
	j := dbtest.WaitJob(t, g.store, id, 4*time.Minute, func() string { return "log:\n" + g.log(t, id) }, want...)
	if j.Status.Finished() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := g.logs.Follow(ctx, id, 0, nil, func([]byte, int64) error { return nil }); err != nil {
			t.Fatalf("the log of job %d did not close: %v", id, err)
		}
	}
	return j
}

func (g *rig) log(t testing.TB, id int64) string {
	raw, err := os.ReadFile(g.logs.Path(id))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(raw)
}

// waitLog waits until the job's log holds text.
func (g *rig) waitLog(t testing.TB, id int64, text string) {
	t.Helper()
	logstest.WaitLine(t, g.logs, id, text, 3*time.Minute, func() bool {
		j, err := g.store.GetJob(context.Background(), id)
		return err == nil && j.Status.Finished()
	})
}

// pods lists the pods of a job's Kubernetes Job.
func (g *rig) pods(t testing.TB, id int64) []corev1.Pod {
	t.Helper()
	list, err := g.c.Client.CoreV1().Pods(g.ns).List(context.Background(),
		metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + g.exec.JobName(id)})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// cancel cancels a running job and waits until it is recorded cancelled
// and its pods are gone; it returns the job.
func (g *rig) cancel(t testing.TB, id int64) db.Job {
	t.Helper()
	if _, err := g.q.Cancel(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	j := g.wait(t, id, db.StatusCancelled, db.StatusFailed, db.StatusSucceeded)
	if j.Status != db.StatusCancelled {
		t.Fatalf("job: %+v\n%s", j, g.log(t, id))
	}
	g.waitNoPods(t, id)
	return j
}

func (g *rig) waitNoPods(t testing.TB, id int64) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for len(g.pods(t, id)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("job %d's pods are still there: %v", id, g.pods(t, id))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestBuildRunsAsAKubernetesJob(t *testing.T) {
	g := newRig(t, 10*time.Minute, nil)
	ctx := context.Background()
	base := aptBase(t, g.r, "apt-ok", "#!/bin/sh\necho \"installing $*\"\necho installed\n")
	_, job, err := g.q.Create(ctx, db.ImageSpec{Name: "kube-demo", BaseImage: base, APT: []string{"jq"}, PullSecret: "team"})
	if err != nil {
		t.Fatal(err)
	}
	// While it runs, its Job carries its labels and reads the credentials
	// from the Secret only.
	deadline := time.Now().Add(2 * time.Minute)
	var podJSON []byte
	for len(podJSON) == 0 && time.Now().Before(deadline) {
		for _, p := range g.pods(t, job.ID) {
			podJSON, _ = json.Marshal(p)
		}
		time.Sleep(100 * time.Millisecond)
	}
	kj, err := g.c.Client.BatchV1().Jobs(g.ns).Get(ctx, g.exec.JobName(job.ID), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{kube.LabelSpec: "kube-demo", kube.LabelRevision: "1", kube.LabelJob: strconv.FormatInt(job.ID, 10)} {
		if kj.Labels[k] != v {
			t.Errorf("Job label %s = %q, want %q", k, kj.Labels[k], v)
		}
	}
	if kj.Spec.BackoffLimit == nil || *kj.Spec.BackoffLimit != 0 || kj.Spec.ActiveDeadlineSeconds == nil || *kj.Spec.ActiveDeadlineSeconds > 600 {
		t.Errorf("Job spec: backoffLimit %v, activeDeadlineSeconds %v", kj.Spec.BackoffLimit, kj.Spec.ActiveDeadlineSeconds)
	}
	jobJSON, _ := json.Marshal(kj)
	for what, b := range map[string][]byte{"Job": jobJSON, "pod": podJSON} {
		if strings.Contains(string(b), pullSecretMarker) {
			t.Errorf("the pull secret is in the %s:\n%s", what, b)
		}
	}

	done := g.wait(t, job.ID, db.StatusSucceeded, db.StatusFailed)
	log := g.log(t, job.ID)
	if done.Status != db.StatusSucceeded || !strings.HasPrefix(done.Digest, "sha256:") || done.Image != g.r.Target.Host+"/kube-demo:1" {
		t.Fatalf("job: %+v\n%s", done, log)
	}
	for _, want := range []string{"Kubernetes Job " + g.ns + "/" + g.exec.JobName(job.ID), "installing", "jq", "Image Builder worker: pushed " + done.Image,
		"Image Builder: revision 1 succeeded: " + done.Image + "@" + done.Digest} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, pullSecretMarker) {
		t.Errorf("the pull secret is in the log")
	}
	// The worker's steps started as the slim helper (package slimexec).
	if strings.Contains(log, "Image Builder worker: warning") {
		t.Errorf("the worker ran without its re-exec helper:\n%s", log)
	}
	// The result came with the worker's sealed last line, which never
	// reaches the job's log.
	if g.exec.SealedResults() == 0 || strings.Contains(log, "Image Builder worker: result") {
		t.Errorf("%d builds ended on their sealed result line; the log:\n%s", g.exec.SealedResults(), log)
	}
	// The registry has it, with that digest.
	if got := manifestDigest(t, g.r.Target.Host, "kube-demo", "1"); got != done.Digest {
		t.Errorf("the registry's kube-demo:1 is %s, the job says %s", got, done.Digest)
	}
	// The Secret went as soon as the build ended.
	if _, err := g.c.Client.CoreV1().Secrets(g.ns).Get(ctx, g.exec.JobName(job.ID), metav1.GetOptions{}); err == nil {
		t.Error("the job's Secret outlived the build")
	}
}

// manifestDigest is the digest the registry gives name:tag.
func manifestDigest(t testing.TB, host, name, tag string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodHead, "http://"+host+"/v2/"+name+"/manifests/"+tag, nil)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("Docker-Content-Digest")
}

// slowBase's apt-get says so and then sleeps for five minutes.
func slowBase(t testing.TB, r *enginetest.Rig) string {
	return aptBase(t, r, "apt-slow", "#!/bin/sh\necho apt-get is slow today\nsleep 300\n")
}

func TestCancelDeletesTheJobAndItsPod(t *testing.T) {
	g := newRig(t, 10*time.Minute, nil)
	ctx := context.Background()
	_, job, err := g.q.Create(ctx, db.ImageSpec{Name: "kube-cancel", BaseImage: slowBase(t, g.r), APT: []string{"jq"}})
	if err != nil {
		t.Fatal(err)
	}
	g.waitLog(t, job.ID, "apt-get is slow today")
	if _, err := g.c.Client.CoreV1().Secrets(g.ns).Get(ctx, g.exec.JobName(job.ID), metav1.GetOptions{}); err != nil {
		t.Errorf("the running build has no Secret: %v", err)
	}
	if len(g.pods(t, job.ID)) != 1 {
		t.Fatalf("pods of the running build: %v", g.pods(t, job.ID))
	}
	if done := g.cancel(t, job.ID); done.Failure.Code() != failure.Cancelled {
		t.Fatalf("job: %+v", done)
	}
	if _, err := g.c.Client.BatchV1().Jobs(g.ns).Get(ctx, g.exec.JobName(job.ID), metav1.GetOptions{}); err == nil {
		t.Error("the cancelled build's Job is still there")
	}
	if _, err := g.c.Client.CoreV1().Secrets(g.ns).Get(ctx, g.exec.JobName(job.ID), metav1.GetOptions{}); err == nil {
		t.Error("the cancelled build's Secret is still there")
	}
}

func TestABuildOverItsDeadlineTimesOut(t *testing.T) {
	g := newRig(t, 20*time.Second, nil)
	_, job, err := g.q.Create(context.Background(), db.ImageSpec{Name: "kube-slow", BaseImage: slowBase(t, g.r), APT: []string{"jq"}})
	if err != nil {
		t.Fatal(err)
	}
	done := g.wait(t, job.ID, db.StatusFailed, db.StatusSucceeded, db.StatusCancelled)
	if done.Status != db.StatusFailed || done.Failure.Code() != failure.Timeout {
		t.Fatalf("job: %+v\n%s", done, g.log(t, job.ID))
	}
	g.waitNoPods(t, job.ID)
}

func TestABuildOverItsMemoryLimitFailsAsOutOfMemory(t *testing.T) {
	g := newRig(t, 10*time.Minute, func(c *kube.Config) {
		c.Resources, _ = kube.ParseResources("", "", "", "256Mi")
	})
	// apt-get holds half a gigabyte in a shell variable.
	hungry := aptBase(t, g.r, "apt-hungry2", "#!/bin/sh\nset -e\ncase \" $* \" in *\" install \"*) ;; *) exit 0;; esac\necho reading a big package list\nhead -c 536870912 /dev/zero | tail -n 1 >/dev/null\necho done\n")
	_, job, err := g.q.Create(context.Background(), db.ImageSpec{Name: "kube-oom", BaseImage: hungry, APT: []string{"jq"}})
	if err != nil {
		t.Fatal(err)
	}
	done := g.wait(t, job.ID, db.StatusFailed, db.StatusSucceeded, db.StatusCancelled)
	if done.Status != db.StatusFailed || done.Failure.Code() != failure.OutOfMemory || len(done.Failure.Args) != 1 || done.Failure.Args[0] != "256Mi" {
		t.Fatalf("job: %+v\n%s", done, g.log(t, job.ID))
	}
	// When the kernel kills the worker itself rather than the step, what
	// the step printed last may die with it; the step's start is logged.
	if !strings.Contains(g.log(t, job.ID), "STEP 2/2") {
		t.Errorf("the log lacks the step:\n%s", g.log(t, job.ID))
	}
}

func TestAMissingWorkerImageSaysSo(t *testing.T) {
	g := newRig(t, 10*time.Minute, func(c *kube.Config) { c.WorkerImage = "imagebuilder/no-such-worker:1" })
	_, job, err := g.q.Create(context.Background(), db.ImageSpec{Name: "kube-noworker", BaseImage: g.r.Busybox(t)})
	if err != nil {
		t.Fatal(err)
	}
	done := g.wait(t, job.ID, db.StatusFailed, db.StatusSucceeded, db.StatusCancelled)
	if done.Status != db.StatusFailed || done.Failure.Code() != failure.WorkerImage || !strings.Contains(done.Failure.Text(), "imagebuilder/no-such-worker:1") {
		t.Fatalf("job: %+v\n%s", done, g.log(t, job.ID))
	}
	g.waitNoPods(t, job.ID)
}

// A build pod whose base image is missing, or whose base's registry is down,
// hands its reason code and arguments back through its termination
// message, as an in-process build does (they were once lost on the way).
func TestABuildPodKeepsTheReasonOfAMissingBaseAndADownRegistry(t *testing.T) {
	g := newRig(t, 10*time.Minute, nil)
	for _, c := range []struct {
		name, base string
		want       failure.Reason
		args       int
		firstArg   string
	}{
		{"kube-nobase", g.r.Target.Host + "/library/no-such-base:1", failure.BaseNotFound, 1, g.r.Target.Host + "/library/no-such-base:1"},
		// The pod reaches the node's loopback, where nothing answers.
		{"kube-baseregistrydown", "127.0.0.1:9/library/busybox:1", failure.Unreachable, 2, "127.0.0.1:9"},
	} {
		_, job, err := g.q.Create(context.Background(), db.ImageSpec{Name: c.name, BaseImage: c.base})
		if err != nil {
			t.Fatal(err)
		}
		done := g.wait(t, job.ID, db.StatusFailed, db.StatusSucceeded, db.StatusCancelled)
		log := g.log(t, job.ID)
		if done.Status != db.StatusFailed || done.Failure.Code() != c.want || len(done.Failure.Args) != c.args || done.Failure.Args[0] != c.firstArg {
			t.Fatalf("%s: job %+v\n%s", c.name, done, log)
		}
		if !strings.Contains(log, "Kubernetes Job ") {
			t.Fatalf("%s: the build did not run in a pod:\n%s", c.name, log)
		}
	}
}

// A second process finds the build of the first still running, follows it
// to its end, and fails a job whose Job is gone.
func TestRecoverReattachesToARunningBuildAndFailsAGoneOne(t *testing.T) {
	g := newRig(t, 10*time.Minute, nil)
	ctx := context.Background()
	base := aptBase(t, g.r, "apt-steady", "#!/bin/sh\ncase \" $* \" in *\" install \"*) ;; *) exit 0;; esac\nfor i in 1 2 3 4 5 6; do echo \"unpacking part $i\"; sleep 1; done\n")
	_, job, err := g.q.Create(ctx, db.ImageSpec{Name: "kube-attach", BaseImage: base, APT: []string{"jq"}})
	if err != nil {
		t.Fatal(err)
	}
	g.waitLog(t, job.ID, "unpacking part 1")
	stored, err := g.store.GetJob(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	running := executor.Job{ID: stored.ID, SpecName: stored.SpecName, Revision: stored.Revision, Snapshot: stored.Snapshot}
	// The second executor shares nothing with the first but the cluster.
	second, err := kube.New(kube.Config{Kubeconfig: g.c.Kubeconfig, Namespace: g.ns, Instance: "t1",
		WorkerImage: kubetest.WorkerImageName, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	gone := executor.Job{ID: 9999, SpecName: "kube-gone", Revision: 1}
	rec, err := second.Recover(ctx, []executor.Job{running, gone})
	if err != nil {
		t.Fatal(err)
	}
	if len(rec) != 2 || !rec[0].Running || rec[1].Running || rec[1].Failure.Code() != failure.PodGone {
		t.Fatalf("recovered: %+v", rec)
	}
	var log strings.Builder
	out, err := second.Attach(ctx, running, &log)
	if err != nil || !strings.HasPrefix(out.Digest, "sha256:") {
		t.Fatalf("attach: %+v %v\n%s", out, err, log.String())
	}
	for i := 1; i <= 6; i++ {
		if n := strings.Count(log.String(), fmt.Sprintf("unpacking part %d\n", i)); n != 1 {
			t.Errorf("line %d is in the re-attached log %d times:\n%s", i, n, log.String())
		}
	}
	first := g.wait(t, job.ID, db.StatusSucceeded, db.StatusFailed)
	if first.Digest != out.Digest {
		t.Errorf("the two followers disagree: %s vs %s", first.Digest, out.Digest)
	}
}

// A pod no node can take says why in the job's log while it waits, and
// cancelling it removes it.
func TestAnUnschedulablePodSaysWhyItWaits(t *testing.T) {
	g := newRig(t, 10*time.Minute, func(c *kube.Config) { c.NodeSelector = map[string]string{"imagebuilder.io/pool": "none"} })
	ctx := context.Background()
	_, job, err := g.q.Create(ctx, db.ImageSpec{Name: "kube-pending", BaseImage: g.r.Busybox(t)})
	if err != nil {
		t.Fatal(err)
	}
	g.waitLog(t, job.ID, "is waiting: Unschedulable: 0/1 nodes are available")
	g.cancel(t, job.ID)
}
