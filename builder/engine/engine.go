// Package engine builds images in-process with the Buildah library and
// pushes them: the first implementation of executor.Executor. It owns the
// containers/storage store under the data directory, the build scratch
// space, and what cancelled or killed builds leave behind (processes,
// mounts, working containers). It knows nothing of HTTP or job statuses.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.podman.io/buildah/imagebuildah"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/types"
	"go.podman.io/storage"
	"golang.org/x/sync/semaphore"

	"imagebuilder/builder/engine/slimexec"
	_ "imagebuilder/builder/engine/stepexit" // keeps each step's last lines (a constructor in the re-executed binary)
	"imagebuilder/builder/executor"
	"imagebuilder/builder/registry"
	"imagebuilder/builder/registry/images"
	"imagebuilder/builder/spec"
	"imagebuilder/db"
)

// Engine builds images in-process with the Buildah library and pushes them
// to a registry. One Engine owns one containers/storage store; several
// builds may run on it at once.
type Engine struct {
	lock       *os.File // the data directory's engine lock, held shared
	dataDir    string
	minFree    uint64
	regTimeout time.Duration
	store      storage.Store
	runDir     string
	scratchDir string
	policyPath string
	ulimits    []string

	insecure *images.Insecure

	cacheMu   sync.RWMutex // see cache.go
	maxCache  int64
	exclusive map[string]*semaphore.Weighted // spec.ExclusiveCaches, see holdCaches

	stepLimits bool // see limits.go
	// warnings are what New could not set up (see Warnings).
	warnings []error

	sharedCaches string // Config.SharedCacheDir; see cache.go
}

// Config says where the engine keeps its state.
type Config struct {
	// DataDir holds storage/ (images and layers), run/ and the engine's
	// policy.json and registries.conf.
	DataDir string
	// InsecureRegistries are host[:port] reached over plain HTTP or without
	// TLS verification, for pulls and pushes (the embedded registry is one).
	InsecureRegistries []string
	// MinFreeSpace is the free space the data directory needs for a build
	// to start (0: no check).
	MinFreeSpace uint64
	// RegistryTimeout is how long a registry may take to answer before a
	// pull or push is given up (default 15 s).
	RegistryTimeout time.Duration
	// MaxCacheSize bounds the package managers' caches together (0: no
	// bound); see cache.go.
	MaxCacheSize int64
	// StepLimits puts each build's steps in a control group of their own
	// with the build's Limits (see limits.go), when this process may make
	// control groups.
	StepLimits bool
	// SharedCacheDir, when set, holds the package managers' caches instead
	// of the scratch space: a volume other builders (build pods on other
	// nodes) use too, so the caches are locked across processes there.
	SharedCacheDir string
}

// New opens (or creates) the store under cfg.DataDir.
func New(cfg Config) (*Engine, error) {
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	e := &Engine{
		dataDir:    dir,
		minFree:    cfg.MinFreeSpace,
		regTimeout: cfg.RegistryTimeout,
		maxCache:   cfg.MaxCacheSize,
		runDir:     filepath.Join(dir, "run"),
		scratchDir: filepath.Join(dir, "tmp"),
		policyPath: filepath.Join(dir, "policy.json"),
		exclusive:  map[string]*semaphore.Weighted{},
	}
	for _, id := range spec.ExclusiveCaches {
		e.exclusive[id] = semaphore.NewWeighted(1)
	}
	for _, d := range []string{filepath.Join(dir, "storage"), e.runDir, e.scratchDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	// Buildah and containers/image keep their scratch space (the build
	// context overlay, blob copies) under TMPDIR: keep it in the data
	// directory, so one place holds everything a build leaves and a restart
	// can find it.
	if err := os.Setenv("TMPDIR", e.scratchDir); err != nil {
		return nil, err
	}
	// Which images may be pulled is the administrator's choice in the spec;
	// signatures are not required.
	if err := os.WriteFile(e.policyPath, []byte(`{"default":[{"type":"insecureAcceptAnything"}]}`+"\n"), 0o600); err != nil {
		return nil, err
	}
	if e.insecure, err = images.NewInsecure(filepath.Join(dir, "registries.conf"), cfg.InsecureRegistries...); err != nil {
		return nil, err
	}
	if e.regTimeout <= 0 {
		e.regTimeout = 15 * time.Second
	}
	if e.ulimits, err = hostUlimits(); err != nil {
		return nil, err
	}
	if err := e.lockAndSweep(); err != nil {
		return nil, err
	}
	e.stepLimits = cfg.StepLimits && e.cgroupsUsable()
	if e.stepLimits {
		if err := adopter.start(); err != nil {
			e.stepLimits = false
			e.warnings = append(e.warnings, fmt.Errorf("builds run without their limits: %w", err))
		}
	}
	if _, err := slimexec.Install(); err != nil {
		e.warnings = append(e.warnings, fmt.Errorf("build steps start slower (Buildah's re-executions run the whole binary): %w", err))
	}
	if cfg.SharedCacheDir != "" {
		if err := e.linkSharedCaches(cfg.SharedCacheDir); err != nil {
			return nil, err
		}
	}
	e.store, err = storage.GetStore(storage.StoreOptions{
		GraphRoot:       filepath.Join(dir, "storage"),
		RunRoot:         filepath.Join(dir, "run", "storage"),
		GraphDriverName: "overlay",
	})
	if err != nil {
		return nil, fmt.Errorf("open image store in %s: %w", dir, err)
	}
	return e, nil
}

// Warnings are what New could not set up and builds do without: the
// steps' limits (limits.go, adopt.go), the slim re-exec helper (package
// slimexec: without it every build step starts about 0.15 s slower). The
// caller should log them.
func (e *Engine) Warnings() []error { return e.warnings }

// Close shuts the store down, unmounting its layers, and lets go of the
// data directory's lock.
func (e *Engine) Close() error {
	_, err := e.store.Shutdown(false)
	if e.lock != nil {
		err = errors.Join(err, e.lock.Close())
	}
	return err
}

// Store exposes the image store for tests and base-image import.
func (e *Engine) Store() storage.Store { return e.store }

// PolicyPath and RegistriesConfPath are the engine's signature policy and
// registries.conf, for a Buildah CLI that should behave the same (bench).
func (e *Engine) PolicyPath() string         { return e.policyPath }
func (e *Engine) RegistriesConfPath() string { return e.insecure.Path() }

// SetInsecureRegistries replaces the hosts reached over plain HTTP or
// without TLS verification and rewrites the engine's registries.conf.
func (e *Engine) SetInsecureRegistries(hosts ...string) error { return e.insecure.Set(hosts...) }

func (e *Engine) isInsecure(host string) bool { return e.insecure.Has(host) }

// systemContext is the base context for pulls and pushes.
func (e *Engine) systemContext() *types.SystemContext {
	return &types.SystemContext{
		SignaturePolicyPath:      e.policyPath,
		SystemRegistriesConfPath: e.insecure.Path(),
		// Never fall back to the host's or the user's credentials.
		AuthFilePath: filepath.Join(e.runDir, "no-auth.json"),
		// containers/image ignores TMPDIR for its big files (a commit's
		// layer copies) and would use /var/tmp.
		BigFilesTemporaryDir: e.scratchDir,
	}
}

// hostUlimits returns the current hard limits for nofile and nproc; without
// them RUN fails with "operation not permitted" when it sets rlimits.
func hostUlimits() ([]string, error) {
	var out []string
	for _, l := range []struct {
		name string
		res  int
	}{{"nofile", syscall.RLIMIT_NOFILE}, {"nproc", 6 /* RLIMIT_NPROC */}} {
		var rl syscall.Rlimit
		if err := syscall.Getrlimit(l.res, &rl); err != nil {
			return nil, fmt.Errorf("read %s limit: %w", l.name, err)
		}
		out = append(out, fmt.Sprintf("%s=%d:%d", l.name, rl.Max, rl.Max))
	}
	return out, nil
}

// BuildRequest is one build: the spec, where to push and how to log.
type BuildRequest struct {
	Spec db.ImageSpec
	// Tag is the image tag to push, e.g. the revision "3".
	Tag string
	// Registry receives the image as <Host>/<Spec.Name>:<Tag>.
	Registry registry.Target
	// PullSecret is a Docker config JSON (.dockerconfigjson) used to pull
	// the base image; nil for none. It is never logged.
	PullSecret []byte
	// Log receives the build output line by line.
	Log io.Writer
	// NoCache rebuilds every step.
	NoCache bool
	// Sources are the package sources, credentials and all: they reach the
	// steps as secret files, and the log with every credential masked.
	Sources spec.Sources
	// PreviousAPT are the APT steps of the spec's last succeeded build;
	// see spec.PlanAPT.
	PreviousAPT [][]string
	// Limits bound the build's steps, when the engine has StepLimits.
	Limits executor.Limits
	// CacheRepo, when set, is a repository (host/path) that the build
	// pulls earlier steps' layers from and pushes its new steps' layers
	// to: a layer cache for builders whose own store starts empty.
	CacheRepo string
}

// Capabilities: builds keep the store's layers, and their steps run in
// control groups with their limits when this process may make them.
func (e *Engine) Capabilities() executor.Capabilities {
	return executor.Capabilities{KeepsLayers: true, StepLimits: e.stepLimits}
}

// BuildResult is what a successful build pushed.
type BuildResult struct {
	// Image is the pushed reference, <registry>/<name>:<tag>.
	Image string
	// Digest is the manifest digest in the registry.
	Digest string
	// Size is the compressed size: manifest, config and layers.
	Size int64
	// ImageID is the local image ID.
	ImageID  string
	Duration time.Duration
}

// Reference returns image@digest.
func (r BuildResult) Reference() string { return r.Image + "@" + r.Digest }

// Build validates the spec, renders its Containerfile, builds it and pushes
// the result. Cancelling ctx stops the build and removes its containers.
func (e *Engine) Build(ctx context.Context, req BuildRequest) (BuildResult, error) {
	start := time.Now()
	containerfile, err := spec.ContainerfileWith(req.Spec, spec.Options{Sources: req.Sources, PreviousAPT: req.PreviousAPT})
	if err != nil {
		return BuildResult{}, err
	}
	if req.Log == nil {
		req.Log = io.Discard
	}
	redact := newRedactor(req.Log, req.Sources.Credentials())
	defer redact.Flush()
	req.Log = redact
	if !req.Sources.IsZero() {
		fmt.Fprintf(req.Log, "Image Builder: package sources: %s\n", req.Sources.Redacted().Summary())
	}
	target := req.Registry.Host + "/" + req.Spec.Name + ":" + req.Tag
	if _, err := reference.ParseNormalizedNamed(target); err != nil {
		return BuildResult{}, fmt.Errorf("image reference %q: %w", target, err)
	}
	fmt.Fprintf(req.Log, "Image Builder: building %s from %s\n", target, req.Spec.BaseImage)
	if named, err := reference.ParseNormalizedNamed(req.Spec.BaseImage); err == nil {
		host := reference.Domain(named)
		if err := e.probe(ctx, host, e.isInsecure(host), false); err != nil {
			return BuildResult{}, err
		}
	}
	pullSecret := registry.WithOwnAuth(req.PullSecret, req.Spec.BaseImage, req.Registry)
	if req.CacheRepo != "" {
		pullSecret = registry.WithPushAuth(pullSecret, req.Registry)
	}
	var limits *executor.Limits
	if e.stepLimits {
		limits = &req.Limits
	}
	id, err := e.BuildContainerfile(ctx, ContainerfileBuild{Containerfile: containerfile, Target: target,
		PullSecret: pullSecret, Secrets: req.Sources.SecretFiles(), NoCache: req.NoCache, Log: req.Log, Limits: limits,
		CacheRepo: req.CacheRepo})
	if err != nil {
		if images.IsNotFound(err) {
			return BuildResult{}, &executor.BaseNotFoundError{Image: req.Spec.BaseImage, Err: err}
		}
		return BuildResult{}, err
	}
	fmt.Fprintf(req.Log, "Image Builder: pushing %s\n", target)
	pushHost := registry.HostOnly(req.Registry.Host)
	if err := e.probe(ctx, pushHost, req.Registry.Insecure || e.isInsecure(pushHost), true); err != nil {
		return BuildResult{}, err
	}
	res, err := e.Push(ctx, id, target, req.Registry, req.Log)
	if err != nil {
		return BuildResult{}, err
	}
	res.ImageID = id
	res.Duration = time.Since(start)
	fmt.Fprintf(req.Log, "Image Builder: pushed %s@%s (%s compressed) in %s\n",
		res.Image, res.Digest, executor.HumanBytes(uint64(res.Size)), res.Duration.Round(time.Millisecond))
	return res, nil
}

// ContainerfileBuild is one Containerfile to build.
type ContainerfileBuild struct {
	Containerfile string
	// Target tags the result locally.
	Target string
	// PullSecret is a Docker config JSON for pulling the base, or nil.
	PullSecret []byte
	// Secrets are files a step mounts with RUN --mount=type=secret,id=<key>:
	// they exist only while that step runs, never in a layer.
	Secrets map[string][]byte
	// NoCache rebuilds every step.
	NoCache bool
	// Log receives the build's output (nil: discarded).
	Log io.Writer
	// Limits, when set, put the steps in a control group with these
	// limits (limits.go).
	Limits *executor.Limits
	// CacheRepo is a layer cache repository (see BuildRequest), or "".
	CacheRepo string
}

// probe checks that the registry at host answers before a pull (or a
// push) waits on it, typing what is wrong: unreachable, or silent.
func (e *Engine) probe(ctx context.Context, host string, insecure, push bool) error {
	err := registry.Probe(ctx, host, insecure, e.regTimeout)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, registry.ErrUnreachable):
		return &executor.RegistryUnreachableError{Host: host, Push: push, Err: err}
	}
	return &executor.RegistryTimeoutError{Host: host, Push: push, Timeout: e.regTimeout, Err: err}
}

// BuildContainerfile runs one Containerfile and returns the image ID. Build
// is this plus validation and the push; tests and benchmarks use it for
// Containerfiles of their own.
func (e *Engine) BuildContainerfile(ctx context.Context, b ContainerfileBuild) (string, error) {
	containerfile, target, pullSecret, noCache, log := b.Containerfile, b.Target, b.PullSecret, b.NoCache, b.Log
	if log == nil {
		log = io.Discard
	}
	e.cacheMu.RLock()
	defer func() {
		e.cacheMu.RUnlock()
		e.pruneCaches(log)
	}()
	work, err := os.MkdirTemp(e.runDir, "build-")
	if err != nil {
		return "", err
	}
	defer func() {
		// A cancelled build leaves Buildah's overlay over the context.
		_ = e.releaseBuildScratch(work)
		_ = os.RemoveAll(work)
	}()
	path := filepath.Join(work, "Containerfile")
	if err := os.WriteFile(path, []byte(containerfile), 0o600); err != nil {
		return "", err
	}
	sys := e.systemContext()
	if len(pullSecret) > 0 {
		sys.AuthFilePath = filepath.Join(work, "auth.json")
		if err := os.WriteFile(sys.AuthFilePath, pullSecret, 0o600); err != nil {
			return "", err
		}
	}
	opts := e.buildOptions(work, target, sys, log)
	opts.NoCache = noCache
	if b.CacheRepo != "" {
		repo, err := reference.ParseNormalizedNamed(b.CacheRepo)
		if err != nil {
			return "", fmt.Errorf("layer cache repository %q: %w", b.CacheRepo, err)
		}
		opts.CacheFrom, opts.CacheTo = []reference.Named{repo}, []reference.Named{repo}
		fmt.Fprintf(log, "Image Builder: layer cache: %s\n", b.CacheRepo)
	}
	ids := make([]string, 0, len(b.Secrets))
	for id := range b.Secrets {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for i, id := range ids {
		// The file's name is not the id, which the Containerfile chose.
		src := filepath.Join(work, fmt.Sprintf("secret-%d", i))
		if err := os.WriteFile(src, b.Secrets[id], 0o600); err != nil {
			return "", err
		}
		opts.CommonBuildOpts.Secrets = append(opts.CommonBuildOpts.Secrets, "id="+id+",src="+src+",type=file")
	}
	// Buildah does not stop a running RUN step when ctx ends: name this
	// build's containers so a watcher can kill the processes inside them.
	opts.ContainerSuffix = buildContainerMark + strings.TrimPrefix(filepath.Base(work), "build-")
	var group *buildCgroup
	if b.Limits != nil {
		if group, err = e.newBuildCgroup(opts.ContainerSuffix, *b.Limits); err != nil {
			fmt.Fprintf(log, "Image Builder: warning: the build's limits cannot be applied: %v\n", err)
		} else {
			fmt.Fprintf(log, "Image Builder: build limits: %s\n", b.Limits)
			defer group.close()
		}
	}
	// Every build registers (a nil group: no limits), so each step that
	// asks is answered (adopt.go); unregistered before the group goes.
	defer adopter.register(opts.ContainerSuffix, group, func() []string { return e.containerUppers(opts.ContainerSuffix) })()
	release, err := e.holdCaches(ctx, containerfile, log)
	if err != nil {
		return "", err
	}
	defer release()
	stopWatch := e.killOnCancel(ctx, opts.ContainerSuffix)
	id, _, err := imagebuildah.BuildDockerfiles(ctx, e.store, opts, path)
	stopWatch()
	if err != nil {
		e.removeBuildContainers(opts.ContainerSuffix)
		if ctx.Err() != nil {
			return "", fmt.Errorf("%w: %v", executor.ErrCancelled, context.Cause(ctx))
		}
		if group != nil && group.oomKills() > 0 {
			limit := ""
			if b.Limits.Memory > 0 {
				limit = executor.HumanBytes(uint64(b.Limits.Memory))
			}
			return "", &executor.OutOfMemoryError{Limit: limit, Err: buildError(err)}
		}
		return "", buildError(err)
	}
	return id, nil
}
