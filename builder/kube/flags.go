package kube

// The executor's command-line settings (--kube-*), turned into a Config.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"imagebuilder/builder/executor"
	"imagebuilder/builder/registry"
	"imagebuilder/db/failure"
)

// Flags are the Kubernetes executor's settings as the command line and
// IMAGEBUILDER_KUBE_* give them.
type Flags struct {
	Kubeconfig, Namespace, Instance, ServiceAccount, WorkerImage, PullPolicy string
	NodeSelector, Tolerations, CacheVolume                                   string
	CPURequest, CPULimit, MemoryRequest, MemoryLimit                         string
	Privileged, HostNetwork, LayerCache                                      bool
	TTL                                                                      time.Duration
}

// Register adds the --kube-* flags to fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.Kubeconfig, "kube-config", "", "kubeconfig file for --executor kubernetes (default: the in-cluster config)")
	fs.StringVar(&f.Namespace, "kube-namespace", "default", "namespace of the build Jobs")
	fs.StringVar(&f.Instance, "kube-instance", "", "tells this portal's Jobs from another's in the namespace (default: an id kept in the data directory)")
	fs.StringVar(&f.ServiceAccount, "kube-service-account", "", "service account of the build pods (they get no token)")
	fs.StringVar(&f.WorkerImage, "kube-worker-image", "", "image of the build pods: this binary on a Debian base (see imagebuilder worker-image)")
	fs.StringVar(&f.PullPolicy, "kube-image-pull-policy", "IfNotPresent", "pull policy of the worker image: Always, IfNotPresent or Never")
	fs.StringVar(&f.NodeSelector, "kube-node-selector", "", "node labels build pods need, key=value,key2=value2")
	fs.StringVar(&f.Tolerations, "kube-tolerations", "", "taints build pods tolerate, key=value:Effect,key:Effect")
	fs.StringVar(&f.CPURequest, "kube-cpu-request", "", "CPU request of a build pod, e.g. 500m")
	fs.StringVar(&f.CPULimit, "kube-cpu-limit", "", "CPU limit of a build pod, e.g. 2")
	fs.StringVar(&f.MemoryRequest, "kube-memory-request", "", "memory request of a build pod, e.g. 512Mi")
	fs.StringVar(&f.MemoryLimit, "kube-memory-limit", "", "memory limit of a build pod, e.g. 4Gi; a build over it fails as out of memory")
	fs.BoolVar(&f.Privileged, "kube-privileged", true, "run build pods privileged; false runs them unprivileged, in a user namespace of their own (admitted under Pod Security baseline; see the README for what the cluster must allow)")
	fs.StringVar(&f.CacheVolume, "kube-cache-volume", "", "volume for the build pods' APT, Conda and Pip caches: pvc:NAME (ReadWriteMany across nodes) or hostpath:/DIR (per node); none: every build downloads again")
	fs.BoolVar(&f.LayerCache, "kube-layer-cache", true, "keep each spec's build layers in a cache repository of the registry ("+registry.CachePrefix+"<spec>), so a build pod reuses unchanged steps")
	fs.BoolVar(&f.HostNetwork, "kube-host-network", false, "run build pods in the node's network (to reach a registry on the node)")
	fs.DurationVar(&f.TTL, "kube-job-ttl", 10*time.Minute, "keep a finished build Job and its pod's log this long")
}

// ExecutorConfig is the executor's Config the flags describe, less what the
// caller adds (MinFreeSpace, RegistryTimeout, Log). Without --kube-instance
// the instance id is made once and kept in dataDir.
func (f Flags) ExecutorConfig(dataDir string) (Config, error) {
	selector, err := ParseNodeSelector(f.NodeSelector)
	if err != nil {
		return Config{}, fmt.Errorf("--kube-node-selector: %w", err)
	}
	tolerations, err := ParseTolerations(f.Tolerations)
	if err != nil {
		return Config{}, fmt.Errorf("--kube-tolerations: %w", err)
	}
	resources, err := ParseResources(f.CPURequest, f.CPULimit, f.MemoryRequest, f.MemoryLimit)
	if err != nil {
		return Config{}, err
	}
	cacheVolume, err := ParseCacheVolume(f.CacheVolume)
	if err != nil {
		return Config{}, err
	}
	switch corev1.PullPolicy(f.PullPolicy) {
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		return Config{}, fmt.Errorf("--kube-image-pull-policy %q: use Always, IfNotPresent or Never", f.PullPolicy)
	}
	instance := f.Instance
	if instance == "" {
		if instance, err = instanceID(filepath.Join(dataDir, "kube-instance")); err != nil {
			return Config{}, err
		}
	}
	return Config{
		Kubeconfig: f.Kubeconfig, Namespace: f.Namespace, Instance: instance, ServiceAccount: f.ServiceAccount,
		WorkerImage: f.WorkerImage, PullPolicy: corev1.PullPolicy(f.PullPolicy), NodeSelector: selector,
		Tolerations: tolerations, Resources: resources, Privileged: f.Privileged, HostNetwork: f.HostNetwork, LayerCache: f.LayerCache, CacheVolume: cacheVolume,
		TTL: f.TTL, StateDir: filepath.Join(dataDir, "kube"),
	}, nil
}

// Resources says the build pods' resources for people, defaults
// included ("" when the flags are wrong, which start refuses).
func (f Flags) Resources() string {
	r, err := ParseResources(f.CPURequest, f.CPULimit, f.MemoryRequest, f.MemoryLimit)
	if err != nil {
		return ""
	}
	var res []string
	for _, x := range []struct {
		what string
		list corev1.ResourceList
		name corev1.ResourceName
	}{{"CPU request", r.Requests, corev1.ResourceCPU}, {"CPU limit", r.Limits, corev1.ResourceCPU},
		{"memory request", r.Requests, corev1.ResourceMemory}, {"memory limit", r.Limits, corev1.ResourceMemory}} {
		if q, ok := x.list[x.name]; ok {
			res = append(res, x.what+" "+q.String())
		}
	}
	return strings.Join(res, ", ")
}

// instanceID is this data directory's Kubernetes instance id, made once.
func instanceID(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	var raw [4]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	id := hex.EncodeToString(raw[:])
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("keep the Kubernetes instance id: %w", err)
	}
	return id, nil
}

// WorkerCommand is `imagebuilder worker`: it runs one build in a build pod
// (see Work) with the pod's paths, which its flags may change for tests.
func WorkerCommand(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	jobDir := fs.String("job-dir", JobDir, "directory of the job's Secret")
	dataDir := fs.String("data-dir", WorkDir, "scratch data directory")
	result := fs.String("result", "/dev/termination-log", "file the result goes to (the pod's termination message)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := enterUserNamespace(stdout); err != nil {
		fmt.Fprintf(stdout, "Image Builder worker: %v\n", err)
		_ = writeResult(*jobDir, *result, stdout, executor.Outcome{}, &executor.ClusterError{Code: failure.NoUserNS, Detail: err.Error()})
		return err
	}
	return Work(ctx, *jobDir, *dataDir, *result, stdout)
}
