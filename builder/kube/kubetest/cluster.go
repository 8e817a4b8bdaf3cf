// Package kubetest starts a real single-node Kubernetes cluster for tests:
// etcd, containerd, runc and the CNI plugins from Debian, and
// kube-apiserver, kube-controller-manager, kube-scheduler and kubelet
// v1.34.4 built from the k8s.io/kubernetes module (k8sbin/, built once
// into .cache by `make kube-binaries`). Everything listens on 127.0.0.1.
// There is no registry for the node: images are imported into containerd
// (Import) and pods use them with imagePullPolicy Never. One cluster runs
// per machine at a time (a file lock; its ports and some kubelet paths are
// fixed), started once per test binary (Get) and torn down by Stop,
// restoring the sysctls the kubelet changes. It fails, never skips, when
// it cannot start. What was verified and why each setting is there:
// ../shared/notes/kubernetes-on-one-machine.md in the project's brief.
package kubetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Cluster is a running single-node cluster.
type Cluster struct {
	// Dir holds everything the cluster writes.
	Dir string
	// Kubeconfig is an administrator's kubeconfig file.
	Kubeconfig string
	Client     kubernetes.Interface

	lock    *os.File
	procs   []*proc
	sysctls map[string]string
	// traces: the kubelet's chains and control groups were on the host
	// before this cluster (see Traces), so they are not its to remove.
	traces bool
}

type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

var (
	once    sync.Once
	shared  *Cluster
	initErr error
)

// Get starts the cluster the first time it is called in a test binary.
func Get(t testing.TB) *Cluster {
	t.Helper()
	once.Do(func() { shared, initErr = Start() })
	if initErr != nil {
		t.Fatalf("the test Kubernetes cluster did not start: %v", initErr)
	}
	return shared
}

// Stop stops the test binary's cluster, if one ran, and removes the
// binary Binary built. Call it after the tests (TestMain).
func Stop() error {
	if binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
	return shared.Stop()
}

// BinDir is where the four Kubernetes binaries are: $IMAGEBUILDER_KUBE_BIN
// (which the Makefile sets), else the newest under the repository's
// .cache/kube.
func BinDir() (string, error) {
	if d := os.Getenv("IMAGEBUILDER_KUBE_BIN"); d != "" {
		return d, nil
	}
	dir, _ := os.Getwd()
	for ; dir != "/"; dir = filepath.Dir(dir) {
		matches, _ := filepath.Glob(filepath.Join(dir, ".cache", "kube", "*", "kubelet"))
		if len(matches) > 0 {
			sort.Slice(matches, func(i, j int) bool { return modTime(matches[i]).After(modTime(matches[j])) })
			return filepath.Dir(matches[0]), nil
		}
	}
	return "", fmt.Errorf("no Kubernetes binaries: run make kube-binaries (or set IMAGEBUILDER_KUBE_BIN)")
}

func modTime(p string) time.Time {
	st, err := os.Stat(p)
	if err != nil {
		return time.Time{}
	}
	return st.ModTime()
}

// lockPath serialises clusters on one machine: test binaries of several
// packages run at once, and the ports are fixed.
const lockPath = "/tmp/imagebuilder-kubetest.lock"

// tmpRoot holds the cluster's directory: not $TMPDIR, which the engine
// points into its own data directory.
const tmpRoot = "/tmp"

// Start brings a new cluster up, waiting for the node to be Ready and the
// default service account to exist.
func Start() (c *Cluster, err error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	for _, tool := range []string{"etcd", "containerd", "ctr", "runc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s is not installed (make setup installs it): %w", tool, err)
		}
	}
	lock, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		lock.Close()
		return nil, err
	}
	// A cluster of an earlier run that was killed may hold the ports.
	cleanStale()
	dir, err := os.MkdirTemp(tmpRoot, "imagebuilder-kube-")
	if err != nil {
		lock.Close()
		return nil, err
	}
	c = &Cluster{Dir: dir, lock: lock, traces: len(Traces()) > 0}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w%s", err, c.logTails())
			_ = c.Stop()
			c = nil
		}
	}()
	for _, d := range []string{"logs", "kubelet", "pod-logs", "cni/net.d", "containerd"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return c, err
		}
	}
	pki := filepath.Join(dir, "pki")
	if err := makePKI(pki); err != nil {
		return c, fmt.Errorf("PKI: %w", err)
	}
	c.Kubeconfig = filepath.Join(pki, "admin.kubeconfig")
	if err := writeConfigs(dir); err != nil {
		return c, err
	}
	if c.sysctls, err = readSysctls(); err != nil {
		return c, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c.start("etcd", "etcd", "--name", "test", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", "http://127.0.0.1:2379", "--advertise-client-urls", "http://127.0.0.1:2379",
		"--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
		"--initial-cluster", "test=http://127.0.0.1:2380", "--listen-metrics-urls", "http://127.0.0.1:2381",
		"--unsafe-no-fsync")
	c.start("containerd", "containerd", "--config", filepath.Join(dir, "containerd", "config.toml"))
	if err := c.waitFor(ctx, "etcd", func() bool { return httpOK("http://127.0.0.1:2379/health") }); err != nil {
		return c, err
	}
	c.start("kube-apiserver", filepath.Join(bin, "kube-apiserver"), apiserverArgs(pki)...)
	if err := c.waitFor(ctx, "containerd", func() bool { return c.ctr("version") == nil }); err != nil {
		return c, err
	}
	pause, err := pauseImage(dir)
	if err != nil {
		return c, err
	}
	if err := c.Import(pause); err != nil {
		return c, err
	}
	rc, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return c, err
	}
	if c.Client, err = kubernetes.NewForConfig(rc); err != nil {
		return c, err
	}
	if err := c.waitFor(ctx, "kube-apiserver", func() bool {
		body, err := c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && string(body) == "ok"
	}); err != nil {
		return c, err
	}
	c.start("kube-controller-manager", filepath.Join(bin, "kube-controller-manager"), controllerArgs(pki)...)
	c.start("kube-scheduler", filepath.Join(bin, "kube-scheduler"),
		"--kubeconfig="+filepath.Join(pki, "scheduler.kubeconfig"),
		"--authentication-kubeconfig="+filepath.Join(pki, "scheduler.kubeconfig"),
		"--authorization-kubeconfig="+filepath.Join(pki, "scheduler.kubeconfig"),
		"--bind-address=127.0.0.1", "--leader-elect=false", "--profiling=false", "--v=1")
	c.start("kubelet", filepath.Join(bin, "kubelet"), "--config="+filepath.Join(dir, "kubelet.yaml"),
		"--kubeconfig="+filepath.Join(pki, "kubelet.kubeconfig"), "--root-dir="+filepath.Join(dir, "kubelet"),
		"--hostname-override=127.0.0.1", "--v=1")
	if err := c.waitFor(ctx, "node Ready", func() bool {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, "127.0.0.1", metav1.GetOptions{})
		if err != nil {
			return false
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return true
			}
		}
		return false
	}); err != nil {
		return c, err
	}
	if err := c.waitFor(ctx, "default service account", func() bool {
		_, err := c.Client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil
	}); err != nil {
		return c, err
	}
	return c, nil
}

func (c *Cluster) start(name, path string, args ...string) {
	logf, err := os.Create(filepath.Join(c.Dir, "logs", name+".log"))
	p := &proc{name: name, done: make(chan struct{})}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p.cmd = cmd
	c.procs = append(c.procs, p)
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		fmt.Fprintf(logf, "start %s: %v\n", path, err)
		close(p.done)
		return
	}
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
}

func (c *Cluster) running(name string) bool {
	for _, p := range c.procs {
		if p.name == name {
			select {
			case <-p.done:
				return false
			default:
				return true
			}
		}
	}
	return false
}

// waitFor polls ready until it holds, a process died, or ctx ends.
func (c *Cluster) waitFor(ctx context.Context, what string, ready func() bool) error {
	for {
		if ready() {
			return nil
		}
		for _, p := range c.procs {
			if !c.running(p.name) {
				return fmt.Errorf("waiting for %s: %s exited", what, p.name)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// logTails is the end of each process's log, for an error.
func (c *Cluster) logTails() string {
	var b strings.Builder
	for _, p := range c.procs {
		data, _ := os.ReadFile(filepath.Join(c.Dir, "logs", p.name+".log"))
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if len(lines) > 8 {
			lines = lines[len(lines)-8:]
		}
		fmt.Fprintf(&b, "\n--- %s (last lines):\n%s", p.name, strings.Join(lines, "\n"))
	}
	return b.String()
}

// ctr runs containerd's client against this cluster's containerd.
func (c *Cluster) ctr(args ...string) error {
	_, err := c.ctrOut(args...)
	return err
}

// ctrOut is ctr's output, or an error with it.
func (c *Cluster) ctrOut(args ...string) (string, error) {
	full := append([]string{"--address", filepath.Join(c.Dir, "containerd", "containerd.sock"), "-n", "k8s.io"}, args...)
	out, err := exec.Command("ctr", full...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Import loads an image archive (docker-archive or oci-archive) into the
// node's containerd, under the names it carries.
func (c *Cluster) Import(archive string) error {
	return c.ctr("images", "import", archive)
}

// Namespace creates a namespace for one test and deletes it when the test
// ends.
func (c *Cluster) Namespace(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t-%d", time.Now().UnixNano()%1e9)
	ctx := context.Background()
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() {
		_ = c.Client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
	})
	// Pods need the namespace's default service account.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := c.Client.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{}); err == nil {
			return name
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("namespace %s has no default service account", name)
	return ""
}

// Stop ends the pods' containers, the cluster's processes, and what they
// left on the host, restores the sysctls, and removes Dir.
func (c *Cluster) Stop() error {
	if c == nil {
		return nil
	}
	c.stop("kubelet")
	if c.running("containerd") {
		out, _ := c.ctrOut("tasks", "ls", "-q")
		tasks := strings.Fields(out)
		for _, t := range tasks {
			_ = c.ctr("tasks", "kill", "-s", "SIGKILL", t)
		}
		time.Sleep(300 * time.Millisecond)
		for _, t := range tasks {
			_ = c.ctr("tasks", "delete", "-f", t)
		}
		out, _ = c.ctrOut("containers", "ls", "-q")
		for _, id := range strings.Fields(out) {
			_ = c.ctr("containers", "rm", id)
		}
	}
	for _, name := range []string{"containerd", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"} {
		c.stop(name)
	}
	killShims(c.Dir)
	var errs []string
	unmountUnder(c.Dir)
	cleanNetwork()
	cleanFixedPaths(c.Dir)
	if !c.traces {
		removeTraces()
	}
	if err := writeSysctls(c.sysctls); err != nil {
		errs = append(errs, err.Error())
	}
	if err := os.RemoveAll(c.Dir); err != nil {
		errs = append(errs, err.Error())
	}
	if c.lock != nil {
		c.lock.Close()
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

func (c *Cluster) stop(name string) {
	for _, p := range c.procs {
		if p.name != name || p.cmd.Process == nil {
			continue
		}
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	}
}
