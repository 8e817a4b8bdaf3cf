package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"imagebuilder/builder/engine"
	"imagebuilder/builder/executor"
	"imagebuilder/builder/registry"
	"imagebuilder/builder/spec"
	"imagebuilder/db/imagespec"
)

// Files of the per-job Secret, as the worker reads them in JobDir.
const (
	fileRequest    = "request.json"
	fileRegistry   = "registry-auth.json"
	filePullSecret = "pull-secret.json"
	fileSources    = "sources.json"
)

// workRequest is request.json: the build without its credentials.
type workRequest struct {
	JobID           int64          `json:"jobID"`
	Revision        int            `json:"revision"`
	Spec            imagespec.Spec `json:"spec"`
	Tag             string         `json:"tag"`
	Registry        string         `json:"registry"`
	Insecure        bool           `json:"insecure,omitempty"`
	OwnRegistry     bool           `json:"ownRegistry,omitempty"`
	NoCache         bool           `json:"noCache,omitempty"`
	MinFreeSpace    uint64         `json:"minFreeSpace,omitempty"`
	RegistryTimeout string         `json:"registryTimeout,omitempty"`
	PreviousAPT     [][]string     `json:"previousAPT,omitempty"`
	// CacheRepo is the layer cache repository, host/path ("" for none).
	CacheRepo string `json:"cacheRepo,omitempty"`
	// SharedCaches: the pod has the package cache volume at CacheMount,
	// bounded to MaxCacheSize bytes (0: no bound).
	SharedCaches bool  `json:"sharedCaches,omitempty"`
	MaxCacheSize int64 `json:"maxCacheSize,omitempty"`
}

type registryAuth struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// secret is the per-job Secret: the request and the credentials, as files.
// resultKey seals the result line (see resultline.go).
func (k *Executor) secret(req executor.Request, resultKey []byte) (*corev1.Secret, error) {
	wr := workRequest{JobID: req.Job.ID, Revision: req.Job.Revision, Spec: req.Job.Snapshot, Tag: req.Tag,
		Registry: req.Registry.Host, Insecure: req.Registry.Insecure, OwnRegistry: req.Registry.Own, NoCache: req.NoCache,
		MinFreeSpace: k.cfg.MinFreeSpace, PreviousAPT: req.PreviousAPT}
	if k.cfg.CacheVolume != nil {
		wr.SharedCaches, wr.MaxCacheSize = true, k.cfg.MaxCacheSize
	}
	if k.cfg.LayerCache {
		wr.CacheRepo = req.Registry.Host + "/" + registry.CacheRepository(req.Job.SpecName)
	}
	if k.cfg.RegistryTimeout > 0 {
		wr.RegistryTimeout = k.cfg.RegistryTimeout.String()
	}
	wr.Spec.PullSecret = "" // the secret's name; its content goes in its own file
	body, err := json.Marshal(wr)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: encode request: %w", err)
	}
	data := map[string][]byte{fileRequest: body, fileResultKey: resultKey}
	if req.Registry.Username != "" {
		auth, err := json.Marshal(registryAuth{Username: req.Registry.Username, Password: req.Registry.Password})
		if err != nil {
			return nil, err
		}
		data[fileRegistry] = auth
	}
	if len(req.PullSecret) > 0 {
		data[filePullSecret] = req.PullSecret
	}
	if !req.Sources.IsZero() {
		b, err := json.Marshal(req.Sources)
		if err != nil {
			return nil, err
		}
		data[fileSources] = b
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: k.JobName(req.Job.ID), Namespace: k.cfg.Namespace, Labels: k.labels(req.Job)},
		Type:       corev1.SecretTypeOpaque,
		Data:       data,
	}, nil
}

// Work is the worker mode of the binary, run in a build pod: it reads the
// job from jobDir (the mounted Secret), builds it with the in-process
// engine on dataDir, writes the build's output to out and its result (see
// executor.Result) to resultPath, the pod's termination message. It
// returns the build's error, which it has written to out already.
func Work(ctx context.Context, jobDir, dataDir, resultPath string, out io.Writer) error {
	out2, err := work(ctx, jobDir, dataDir, out)
	if err != nil {
		fmt.Fprintf(out, "Image Builder worker: %v\n", err)
	}
	if werr := writeResult(jobDir, resultPath, out, out2, err); werr != nil && err == nil {
		err = werr
	}
	return err
}

// writeResult writes the build's result to resultPath (the termination
// message) and then, sealed, as the last line of out (see resultline.go),
// even when the first could not be written. The line must be the worker's
// last output: the executor stops reading the log when it comes.
func writeResult(jobDir, resultPath string, out io.Writer, o executor.Outcome, err error) error {
	body := executor.EncodeResult(o, err)
	werr := os.WriteFile(resultPath, body, 0o644)
	if key, kerr := os.ReadFile(filepath.Join(jobDir, fileResultKey)); kerr == nil && len(key) > 0 {
		_, _ = io.WriteString(out, sealResult(key, body))
	}
	if werr != nil {
		return fmt.Errorf("write the result to %s: %w", resultPath, werr)
	}
	return nil
}

// cacheMount is CacheMount, which tests of the worker outside a pod move.
var cacheMount = CacheMount

func work(ctx context.Context, jobDir, dataDir string, out io.Writer) (executor.Outcome, error) {
	var wr workRequest
	body, err := os.ReadFile(filepath.Join(jobDir, fileRequest))
	if err != nil {
		return executor.Outcome{}, fmt.Errorf("read the job: %w", err)
	}
	if err := json.Unmarshal(body, &wr); err != nil {
		return executor.Outcome{}, fmt.Errorf("read the job: %w", err)
	}
	target := registry.Target{Host: wr.Registry, Insecure: wr.Insecure, Own: wr.OwnRegistry}
	if b, err := os.ReadFile(filepath.Join(jobDir, fileRegistry)); err == nil {
		var a registryAuth
		if err := json.Unmarshal(b, &a); err != nil {
			return executor.Outcome{}, fmt.Errorf("read the registry credentials: %w", err)
		}
		target.Username, target.Password = a.Username, a.Password
	}
	var pull []byte
	if b, err := os.ReadFile(filepath.Join(jobDir, filePullSecret)); err == nil {
		pull = b
	}
	var sources spec.Sources
	if b, err := os.ReadFile(filepath.Join(jobDir, fileSources)); err == nil {
		if err := json.Unmarshal(b, &sources); err != nil {
			return executor.Outcome{}, fmt.Errorf("read the package sources: %w", err)
		}
	}
	timeout, _ := time.ParseDuration(wr.RegistryTimeout)
	var insecure []string
	if wr.Insecure {
		insecure = []string{strings.SplitN(wr.Registry, "/", 2)[0]}
	}
	cfg := engine.Config{DataDir: dataDir, InsecureRegistries: insecure, MinFreeSpace: wr.MinFreeSpace, RegistryTimeout: timeout}
	if wr.SharedCaches {
		cfg.SharedCacheDir, cfg.MaxCacheSize = cacheMount, wr.MaxCacheSize
	}
	eng, err := engine.New(cfg)
	if err != nil {
		return executor.Outcome{}, err
	}
	defer eng.Close()
	for _, w := range eng.Warnings() {
		fmt.Fprintf(out, "Image Builder worker: warning: %v\n", w)
	}
	fmt.Fprintf(out, "Image Builder worker: building job %d (%s revision %d) in pod %s\n", wr.JobID, wr.Spec.Name, wr.Revision, os.Getenv("POD_NAME"))
	job := executor.Job{ID: wr.JobID, SpecName: wr.Spec.Name, Revision: wr.Revision, Snapshot: wr.Spec}
	res, err := eng.Run(ctx, executor.Request{Job: job, Tag: wr.Tag, Registry: target, PullSecret: pull, NoCache: wr.NoCache, Sources: sources, PreviousAPT: wr.PreviousAPT,
		CacheRepo: wr.CacheRepo}, out)
	var step *executor.StepError
	if errors.As(err, &step) && oomKills() > 0 {
		err = &executor.OutOfMemoryError{Err: err}
	}
	if err == nil {
		fmt.Fprintf(out, "Image Builder worker: pushed %s (%s)\n", res.Image, res.Digest)
	}
	return res, err
}

// oomKills is how many processes the kernel killed in this container's
// memory cgroup for going over its limit (cgroup v2 or v1).
func oomKills() int {
	for _, p := range []string{"/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
				n, _ := strconv.Atoi(strings.TrimSpace(v))
				return n
			}
		}
	}
	return 0
}
