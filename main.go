// Command imagebuilder is the Image Builder portal and its command line:
//
//	imagebuilder [serve]                 serve the portal and the embedded registry
//	imagebuilder containerfile -f SPEC   print the Containerfile of a spec (JSON)
//	imagebuilder build -f SPEC           build a spec and push it
//	imagebuilder import-base ...         turn a rootfs tarball into a base image
//	imagebuilder worker-image ...        make the image Kubernetes build pods run
//	imagebuilder worker ...              run one build in a Kubernetes build pod
//	imagebuilder kube-manifests          print the manifests that run the portal in a cluster
//
// Every flag has an environment variable, IMAGEBUILDER_<FLAG> with dashes
// as underscores (e.g. IMAGEBUILDER_DATA_DIR).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sirupsen/logrus"
	"go.podman.io/buildah"
	"k8s.io/klog/v2"

	"imagebuilder/builder/disk"
	"imagebuilder/builder/engine"
	"imagebuilder/builder/engine/slimexec"
	"imagebuilder/builder/executor"
	"imagebuilder/builder/housekeeping"
	"imagebuilder/builder/kube"
	"imagebuilder/builder/kube/deploy"
	"imagebuilder/builder/logs"
	"imagebuilder/builder/metrics"
	"imagebuilder/builder/queue"
	"imagebuilder/builder/registry"
	"imagebuilder/builder/registry/images"
	"imagebuilder/builder/settings"
	"imagebuilder/builder/spec"
	"imagebuilder/builder/webhooks"
	"imagebuilder/db"
	"imagebuilder/handlers"
	"imagebuilder/handlers/cli"
	"imagebuilder/views"
)

func main() {
	// Chroot isolation re-executes this binary to run build steps.
	if buildah.InitReexec() {
		return
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Config is everything a command can be told through flags or environment.
type Config struct {
	DataDir           string
	Addr              string
	RegistryAddr      string
	Registry          string
	RegistryUsername  string
	RegistryPassword  string
	RegistryInsecure  bool
	Workers           int
	BuildTimeout      time.Duration
	AdminUser         string
	AdminPassword     string
	TrustedProxies    string
	AllowLinkLocal    bool
	LogFormat         string
	MinFreeSpace      executor.ByteSize
	CacheMaxSize      executor.ByteSize
	BuildMemory       executor.ByteSize
	BuildCPUs         float64
	RegistryTimeout   time.Duration
	SilenceTimeout    time.Duration
	HousekeepingEvery time.Duration
	BaseCheckEvery    time.Duration
	StorageMaxSize    executor.ByteSize
	MetricsAddr       string
	RegistryHtpasswd  string
	RegistryName      string
	Executor          string
	Kube              kube.Flags
}

func (c *Config) register(fs *flag.FlagSet) {
	fs.StringVar(&c.DataDir, "data-dir", "data", "directory for the database, image storage, registry blobs and logs")
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:8080", "address the portal listens on")
	fs.StringVar(&c.RegistryAddr, "registry-addr", "127.0.0.1:5000", "address the embedded registry listens on and images are named after (pods must reach it with --executor kubernetes)")
	fs.StringVar(&c.Registry, "registry", "", "external registry host[:port][/prefix] to push to instead of the embedded one")
	fs.StringVar(&c.RegistryUsername, "registry-username", "", "user name for the external registry")
	fs.StringVar(&c.RegistryPassword, "registry-password", "", "password for the external registry (prefer the environment variable)")
	fs.BoolVar(&c.RegistryInsecure, "registry-insecure", false, "reach the external registry over HTTP or without TLS verification")
	fs.IntVar(&c.Workers, "workers", 1, "builds that run at once")
	fs.DurationVar(&c.BuildTimeout, "build-timeout", time.Hour, "a build running longer fails")
	fs.StringVar(&c.AdminUser, "admin-user", "admin", "administrator created (or whose password is reset) at start when --admin-password is set")
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", "", "comma-separated IPs or CIDRs of reverse proxies whose X-Forwarded-For names the client (for the sign-in rate limit)")
	fs.BoolVar(&c.AllowLinkLocal, "registry-allow-link-local", false, "let the registry Test connection reach link-local and cloud metadata addresses (169.254.0.0/16, fe80::/10)")
	fs.StringVar(&c.LogFormat, "log-format", "text", "server log format: text or json (log/slog)")
	c.MinFreeSpace = 2 << 30
	fs.Var(&c.MinFreeSpace, "min-free-space", "free space the data directory needs for a build to start, e.g. 2GiB")
	c.StorageMaxSize = 20 << 30
	fs.Var(&c.StorageMaxSize, "build-storage-max-size", "housekeeping prunes the build storage (image layers) past this size, keeping each spec's latest and active revisions and their layer cache (0: never), e.g. 20GiB")
	c.CacheMaxSize = 4 << 30
	fs.Var(&c.CacheMaxSize, "cache-max-size", "bound on the APT, Conda and Pip caches kept between builds (0: no bound), e.g. 4GiB")
	c.BuildMemory = executor.ByteSize(executor.DefaultBuildMemory())
	fs.Var(&c.BuildMemory, "build-memory", "memory each in-process build may use until an administrator sets another limit (0: none; default: half this machine's memory)")
	fs.Float64Var(&c.BuildCPUs, "build-cpus", 0, "CPUs each in-process build may use until an administrator sets another limit (0: no limit)")
	fs.DurationVar(&c.RegistryTimeout, "registry-timeout", 15*time.Second, "a registry that does not answer this long fails the pull or push")
	fs.DurationVar(&c.SilenceTimeout, "build-silence-timeout", 0, "fail a build whose output stays silent this long (0: never)")
	fs.DurationVar(&c.BaseCheckEvery, "base-check-interval", 6*time.Hour, "resolve every spec's base image again this often and act on its policy where it changed (0: only from the list's button), until set on the Storage page")
	fs.DurationVar(&c.HousekeepingEvery, "housekeeping-interval", time.Hour, "apply retention and collect the embedded registry's garbage this often (0: only from the Storage page's button), until set on the Storage page")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", "", "also serve Prometheus metrics at http://ADDR/metrics on a listener of their own, without a token (empty: only the portal's /metrics, which takes an API token)")
	fs.StringVar(&c.RegistryName, "registry-advertise", "", "host:port that names the embedded registry's images and that builds push to, when it differs from --registry-addr (e.g. a Service name in a cluster)")
	fs.StringVar(&c.RegistryHtpasswd, "registry-htpasswd", "", "require basic auth (bcrypt htpasswd file) on the embedded registry; builds push with --registry-username and --registry-password")
	fs.StringVar(&c.Executor, "executor", "in-process", "where builds run: in-process (Buildah in this process) or kubernetes (a Job per build)")
	c.Kube.Register(fs)
	fs.StringVar(&c.AdminPassword, "admin-password", "", "password for --admin-user (prefer IMAGEBUILDER_ADMIN_PASSWORD); without it the first visit offers a setup page")
}

// parseFlags applies IMAGEBUILDER_* environment variables as defaults, then
// the command line.
func parseFlags(fs *flag.FlagSet, args []string) error {
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "IMAGEBUILDER_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if err := f.Value.Set(v); err != nil && envErr == nil {
				envErr = fmt.Errorf("%s=%q: %w", name, v, err)
			}
		}
	})
	if envErr != nil {
		return envErr
	}
	return fs.Parse(args)
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	// Buildah and the registry log through logrus; keep warnings only.
	logrus.SetLevel(logrus.WarnLevel)
	logrus.SetOutput(stderr)
	// client-go logs through klog (throttling notes and the like); the
	// Kubernetes executor reports what matters through its errors.
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd {
	case "serve":
		err = cmdServe(ctx, args, stderr)
	case "containerfile":
		err = cmdContainerfile(args, stdout)
	case "build":
		err = cmdBuild(ctx, args, stdout)
	case "import-base":
		err = cmdImportBase(ctx, args, stdout)
	case "worker-image":
		err = cmdWorkerImage(ctx, args, stdout)
	case "worker": // one build in a Kubernetes build pod; it writes its own errors
		if err = kube.WorkerCommand(ctx, args, stdout); err != nil {
			err = fmt.Errorf("%w: %w", errReported, err)
		}
	case "worker-userns-probe": // a worker's test that it may make a user namespace
		return 0
	case "kube-manifests":
		_, err = stdout.Write(deploy.Manifests)
	case "spec", "job":
		return cli.Run(ctx, cmd, args, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, "usage: imagebuilder [serve|containerfile|build|import-base|worker-image|worker|kube-manifests] [flags]; imagebuilder CMD -h for flags")
		fmt.Fprintln(stdout, "against a running portal: imagebuilder spec apply|list|get|delete, job list|logs|cancel|retry (imagebuilder spec for more)")
		return 0
	default:
		err = fmt.Errorf("unknown command %q (serve, containerfile, build, import-base, worker-image, worker, kube-manifests, spec, job)", cmd)
	}
	var verr spec.ValidationError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errReported):
		return 1
	case errors.As(err, &verr):
		for _, e := range verr {
			fmt.Fprintln(stderr, e.Error())
		}
		return 2
	default:
		fmt.Fprintln(stderr, "imagebuilder:", err)
		return 1
	}
}

func readSpec(path string) (db.ImageSpec, error) {
	var in db.ImageSpec
	if path == "" {
		return in, errors.New("-f SPEC.json is required")
	}
	var raw []byte
	var err error
	if path == "-" {
		raw, err = io.ReadAll(os.Stdin)
	} else {
		raw, err = os.ReadFile(path)
	}
	if err != nil {
		return in, err
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return in, fmt.Errorf("%s: %w", path, err)
	}
	return in, nil
}

func cmdContainerfile(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("containerfile", flag.ContinueOnError)
	file := fs.String("f", "", "spec JSON file (- for stdin)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	in, err := readSpec(*file)
	if err != nil {
		return err
	}
	cf, err := spec.Containerfile(in)
	if err != nil {
		return err
	}
	_, err = io.WriteString(stdout, cf)
	return err
}

// buildRuntime holds what the commands open: the registry and, where they
// are needed, the client for images in registries and the engine.
type buildRuntime struct {
	// engine is nil when builds run elsewhere: no Buildah storage is
	// opened then, and nothing here needs privileges.
	engine   *engine.Engine
	images   *images.Client
	embedded *registry.Registry
	target   registry.Target
}

// openRuntime opens the registry, and the engine and the images client
// when asked (only the server reads images in registries: another command
// would rewrite its registries.conf).
func openRuntime(ctx context.Context, cfg Config, withEngine, withImages bool) (*buildRuntime, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	rt := &buildRuntime{}
	var err error
	rt.target, rt.embedded, err = registry.Open(ctx, registry.Choice{External: cfg.Registry, Username: cfg.RegistryUsername,
		Password: cfg.RegistryPassword, Insecure: cfg.RegistryInsecure, Dir: filepath.Join(cfg.DataDir, "registry"),
		Addr: cfg.RegistryAddr, Advertise: cfg.RegistryName, Htpasswd: cfg.RegistryHtpasswd})
	if err != nil {
		return nil, err
	}
	insecure := []string{}
	if rt.target.Insecure {
		insecure = append(insecure, registry.HostOnly(rt.target.Host))
	}
	var own registry.Target
	if rt.target.Own {
		own = rt.target
	}
	if withImages {
		if rt.images, err = images.New(images.Config{Dir: filepath.Join(cfg.DataDir, "images"), Timeout: cfg.RegistryTimeout, Own: own}); err != nil {
			rt.Close()
			return nil, err
		}
	}
	if !withEngine {
		return rt, nil
	}
	eng, err := engine.New(engine.Config{DataDir: cfg.DataDir, InsecureRegistries: insecure, MinFreeSpace: uint64(cfg.MinFreeSpace),
		RegistryTimeout: cfg.RegistryTimeout, MaxCacheSize: int64(cfg.CacheMaxSize), StepLimits: true})
	if err != nil {
		rt.Close()
		return nil, err
	}
	rt.engine = eng
	return rt, nil
}

func (rt *buildRuntime) Close() {
	if rt.engine != nil {
		_ = rt.engine.Close()
		slimexec.Uninstall()
	}
	if rt.embedded != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = rt.embedded.Close(ctx)
	}
}

func cmdBuild(ctx context.Context, args []string, stdout io.Writer) error {
	var cfg Config
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	cfg.register(fs)
	file := fs.String("f", "", "spec JSON file (- for stdin)")
	tag := fs.String("tag", "latest", "image tag to push")
	pullSecret := fs.String("pull-secret-file", "", "Docker config JSON used to pull the base image")
	noCache := fs.Bool("no-cache", false, "rebuild every step")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	in, err := readSpec(*file)
	if err != nil {
		return err
	}
	if err := spec.Validate(in); err != nil {
		return err
	}
	var secret []byte
	if *pullSecret != "" {
		if secret, err = os.ReadFile(*pullSecret); err != nil {
			return err
		}
	}
	rt, err := openRuntime(ctx, cfg, true, false)
	if err != nil {
		return err
	}
	defer rt.Close()
	res, err := rt.engine.Build(ctx, engine.BuildRequest{
		Spec: in, Tag: *tag, Registry: rt.target, PullSecret: secret, Log: stdout, NoCache: *noCache,
		Limits: executor.Limits{Memory: int64(cfg.BuildMemory), CPUs: cfg.BuildCPUs},
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %s\n", res.Image, res.Digest)
	return nil
}

func cmdImportBase(ctx context.Context, args []string, stdout io.Writer) error {
	var cfg Config
	fs := flag.NewFlagSet("import-base", flag.ContinueOnError)
	cfg.register(fs)
	rootfs := fs.String("rootfs", "", "root filesystem tarball")
	image := fs.String("image", "", "repository:tag inside the registry, e.g. library/debian:bookworm")
	cmd := fs.String("cmd", "/bin/sh", "default command of the image")
	title := fs.String("title", "", "display name in Image Management (default: the image name)")
	description := fs.String("description", "", "description in Image Management")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *rootfs == "" || *image == "" {
		return errors.New("--rootfs and --image are required")
	}
	rt, err := openRuntime(ctx, cfg, true, false)
	if err != nil {
		return err
	}
	defer rt.Close()
	target := rt.target.Host + "/" + *image
	res, err := rt.engine.ImportRootfs(ctx, *rootfs, target, engine.BaseImageConfig{
		Cmd: []string{*cmd},
		Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
	}, rt.target, io.Discard)
	if err != nil {
		return err
	}
	store, err := db.Open(filepath.Join(cfg.DataDir, "imagebuilder.db"))
	if err != nil {
		return err
	}
	defer store.Close()
	if *title == "" {
		*title = *image
	}
	if err := store.UpsertBaseImageByReference(ctx, db.BaseImage{Name: *title, Reference: res.Image, Description: *description}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %s\n", res.Image, res.Digest)
	return nil
}

func cmdServe(ctx context.Context, args []string, logw io.Writer) error {
	var cfg Config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfg.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var logger *slog.Logger
	switch cfg.LogFormat {
	case "text":
		logger = slog.New(slog.NewTextHandler(logw, nil))
	case "json":
		logger = slog.New(slog.NewJSONHandler(logw, nil))
	default:
		return fmt.Errorf("--log-format %q: use text or json", cfg.LogFormat)
	}
	proxies, err := handlers.ParseTrustedProxies(cfg.TrustedProxies)
	if err != nil {
		return err
	}
	rt, err := openRuntime(ctx, cfg, cfg.Executor == "" || cfg.Executor == "in-process", true)
	if err != nil {
		return err
	}
	defer rt.Close()
	if rt.engine != nil {
		for _, w := range rt.engine.Warnings() {
			logger.Warn("in-process builds", "warning", w)
		}
	}
	store, err := db.Open(filepath.Join(cfg.DataDir, "imagebuilder.db"))
	if err != nil {
		return err
	}
	defer store.Close()
	logStore, err := logs.NewStore(filepath.Join(cfg.DataDir, "logs"))
	if err != nil {
		return err
	}
	target := rt.target
	box, err := settings.OpenSecretBox(filepath.Join(cfg.DataDir, "secret.key"))
	if err != nil {
		return err
	}
	// Who reaches registries is told which ones are reached without TLS.
	told := []settings.InsecureRegistries{rt.images}
	if rt.engine != nil {
		told = append(told, rt.engine)
	}
	conf := settings.New(store, box, target, told...)
	conf.AllowLinkLocal = cfg.AllowLinkLocal
	conf.DefaultLimits = executor.Limits{Memory: int64(cfg.BuildMemory), CPUs: cfg.BuildCPUs}
	conf.DefaultSchedule = settings.Schedule{HousekeepingEvery: cfg.HousekeepingEvery, BaseCheckEvery: cfg.BaseCheckEvery}
	if err := conf.SyncInsecure(ctx); err != nil {
		return err
	}
	keys, err := handlers.LoadSessionKeys(filepath.Join(cfg.DataDir, "session.keys"))
	if err != nil {
		return err
	}
	if err := handlers.EnsureAdmin(ctx, store, cfg.AdminUser, cfg.AdminPassword); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	exec, execInfo, err := newExecutor(cfg, rt.engine, logger)
	if err != nil {
		return err
	}
	keeper := &housekeeping.Keeper{DB: store, Logs: logStore, Default: conf.Retention, Log: logger,
		StorageMax: int64(cfg.StorageMaxSize), External: conf.ExternalTags}
	var caches handlers.Caches
	if rt.engine != nil { // this process builds: its image store and caches
		keeper.Storage, caches = rt.engine, rt.engine
	}
	var registryBytes func() int64
	var layerCache func() (int, int64)
	if rt.embedded != nil && rt.target.Own {
		keeper.Registry, keeper.RegistryHost, registryBytes = rt.embedded, rt.target.Host, rt.embedded.BlobBytes
		if cfg.Executor == "kubernetes" && cfg.Kube.LayerCache {
			layerCache = rt.embedded.CacheUsage
		}
	}
	var jobs *queue.Queue
	logsDir := filepath.Join(cfg.DataDir, "logs")
	stats := metrics.New(store, func() int { return jobs.Running() }, func() int64 { return disk.TreeBytes(logsDir) })
	hooks := webhooks.New(webhooks.Config{DB: store, Box: box, Log: logger, AllowLinkLocal: cfg.AllowLinkLocal, Observe: stats.WebhookAttempt})
	jobs = queue.New(store, exec, logStore, queue.Config{
		Workers:        cfg.Workers,
		Timeout:        cfg.BuildTimeout,
		Registry:       conf.Registry,
		PullSecret:     conf.PullSecret,
		Sources:        conf.Sources,
		Limits:         conf.BuildLimits,
		Reuse:          rt.images,
		Inventory:      rt.images,
		Log:            logger,
		SilenceTimeout: cfg.SilenceTimeout,
		Hooks: queue.HookFuncs{OnStarted: stats.Started, OnFinished: stats.Finished, OnEnded: hooks.JobFinished,
			OnSpecDeleted: keeper.ForgetSpec},
	})
	if err := jobs.Start(ctx); err != nil {
		return err
	}
	app := handlers.New(handlers.Deps{DB: store, Queue: jobs, Logs: logStore, Settings: conf,
		SessionKeys: keys, Done: ctx.Done(), Log: logger, TrustedProxies: proxies,
		DataDir: cfg.DataDir, MinFreeSpace: uint64(cfg.MinFreeSpace), Inspector: rt.images, Caches: caches, Can: exec.Capabilities(), CacheMaxSize: uint64(cfg.CacheMaxSize), Executor: execInfo,
		Housekeeping: keeper, RegistryBytes: registryBytes, LayerCache: layerCache, Webhooks: hooks, Workers: cfg.Workers,
		Metrics: promhttp.HandlerFor(stats.Gatherer(), promhttp.HandlerOpts{})})
	go hooks.Run(ctx)
	go settings.Every(ctx, conf.HousekeepingEvery, conf.ScheduleChanged, func(ctx context.Context) {
		_, _ = keeper.Run(ctx, housekeeping.TriggerSchedule) // recorded with the run
	})
	go settings.Every(ctx, conf.BaseCheckEvery, conf.ScheduleChanged, func(ctx context.Context) {
		if res, err := jobs.CheckBases(ctx); err != nil || len(res.Failed) > 0 {
			logger.Warn("base image check", "err", err, "failed", res.Failed)
		}
	})
	execName := "in-process"
	if execInfo.Kubernetes {
		execName = "kubernetes (namespace " + execInfo.Namespace + ")"
	}
	logger.Info("serving the portal", "url", "http://"+ln.Addr().String(), "registry", target.Host, "data", cfg.DataDir, "executor", execName)
	served := make(chan error, 1)
	go func() { served <- app.Listener(ln) }()
	if cfg.MetricsAddr != "" {
		stop, err := stats.ServeOn(cfg.MetricsAddr, logger)
		if err != nil {
			return fmt.Errorf("--metrics-addr: %w", err)
		}
		defer stop()
	}
	select {
	case <-ctx.Done():
	case err := <-served:
		return err
	}
	// SIGTERM: stop serving, stop taking jobs, cancel and record running
	// builds; deferred closes then shut the image store down.
	logger.Info("shutting down")
	shutdown, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return errors.Join(app.ShutdownWithContext(shutdown), jobs.Stop(shutdown))
}

// newExecutor is where builds run: this process's engine, or Kubernetes.
func newExecutor(cfg Config, eng *engine.Engine, logger *slog.Logger) (executor.Executor, views.ExecutorInfo, error) {
	none := views.ExecutorInfo{}
	switch cfg.Executor {
	case "", "in-process":
		return eng, none, nil
	case "kubernetes":
	default:
		return nil, none, fmt.Errorf("--executor %q: use in-process or kubernetes", cfg.Executor)
	}
	kc, err := cfg.Kube.ExecutorConfig(cfg.DataDir)
	if err != nil {
		return nil, none, err
	}
	kc.MinFreeSpace, kc.RegistryTimeout, kc.Log = uint64(cfg.MinFreeSpace), cfg.RegistryTimeout, logger
	kc.MaxCacheSize = int64(cfg.CacheMaxSize)
	ex, err := kube.New(kc)
	if err != nil {
		return nil, none, err
	}
	info := views.ExecutorInfo{Kubernetes: true, Namespace: kc.Namespace, WorkerImage: kc.WorkerImage, Resources: cfg.Kube.Resources(),
		Privileged: kc.Privileged, CacheVolume: cfg.Kube.CacheVolume}
	if kc.LayerCache {
		info.LayerCache = registry.CachePrefix
	}
	return ex, info, nil
}

// cmdWorkerImage makes the worker image: a base image from the registry
// plus this very binary.
func cmdWorkerImage(ctx context.Context, args []string, stdout io.Writer) error {
	var cfg Config
	fs := flag.NewFlagSet("worker-image", flag.ContinueOnError)
	cfg.register(fs)
	base := fs.String("base", "", "base image (default: library/debian:bookworm in the registry, as make run imports it)")
	dest := fs.String("image", "", "where the image goes: NAME:TAG pushed to the registry, or a transport reference such as docker-archive:/tmp/worker.tar:imagebuilder/worker:dev")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dest == "" {
		return errors.New("--image is required")
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	rt, err := openRuntime(ctx, cfg, true, false)
	if err != nil {
		return err
	}
	defer rt.Close()
	if *base == "" {
		*base = rt.target.Host + "/library/debian:bookworm"
	}
	if !strings.Contains(*dest, ":/") && !strings.HasPrefix(*dest, rt.target.Host+"/") && !strings.HasPrefix(*dest, "docker://") {
		*dest = rt.target.Host + "/" + *dest
	}
	ref, err := rt.engine.WorkerImage(ctx, *base, self, *dest, rt.target, io.Discard)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, ref)
	return nil
}

// errReported is an error the command has already written out.
var errReported = errors.New("reported")
