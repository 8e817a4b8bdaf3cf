package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"imagebuilder/builder/engine"
	"imagebuilder/builder/engine/enginetest"
	"imagebuilder/builder/executor"
	"imagebuilder/builder/registry"
	"imagebuilder/builder/spec"
	"imagebuilder/builder/spec/spectest"
	"imagebuilder/db"
)

// The comparison with BuildKit (`make bench`): the same Containerfiles,
// the one Image Builder renders for each spec, built by the in-process
// engine and by buildkitd (OCI worker, host network, overlayfs) with
// buildctl, both pulling the base from and pushing to the same registry
// through a proxy that counts the blob bytes each moves. Each round is
// timed from the request to the pushed digest.

// countingRegistry is a reverse proxy in front of the rig's registry that
// counts the bytes of blobs pulled and pushed through it.
type countingRegistry struct {
	Host           string
	pulled, pushed atomic.Int64
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n))
	return n, err
}

func (c countingWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func newCountingRegistry(b *testing.B, upstream string) *countingRegistry {
	u, err := url.Parse("http://" + upstream)
	if err != nil {
		b.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	c := &countingRegistry{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.Contains(req.URL.Path, "/blobs/") {
			switch req.Method {
			case http.MethodGet:
				w = countingWriter{w, &c.pulled}
			case http.MethodPut, http.MethodPatch, http.MethodPost:
				if req.Body != nil {
					req.Body = countingBody{req.Body, &c.pushed}
				}
			}
		}
		proxy.ServeHTTP(w, req)
	}))
	b.Cleanup(srv.Close)
	c.Host = strings.TrimPrefix(srv.URL, "http://")
	return c
}

// moved is what the proxy moved since the last call.
func (c *countingRegistry) moved() (pulled, pushed int64) {
	return c.pulled.Swap(0), c.pushed.Swap(0)
}

// buildkit is one buildkitd with a private root and socket.
type buildkit struct {
	bin, dir, addr string
	cmd            *exec.Cmd
}

// startBuildkit starts buildkitd from the binaries `make bench` built
// (IMAGEBUILDER_BUILDKIT_BIN) with plain HTTP to insecure.
func startBuildkit(b *testing.B, insecure string) *buildkit {
	bin := os.Getenv("IMAGEBUILDER_BUILDKIT_BIN")
	if bin == "" {
		b.Skip("IMAGEBUILDER_BUILDKIT_BIN is not set: `make bench` builds buildkitd and buildctl and sets it")
	}
	for _, tool := range []string{"buildkitd", "buildctl"} {
		if _, err := os.Stat(filepath.Join(bin, tool)); err != nil {
			b.Fatalf("%s: %v (make bench builds it)", tool, err)
		}
	}
	dir, err := os.MkdirTemp("", "bench-buildkit-")
	if err != nil {
		b.Fatal(err)
	}
	k := &buildkit{bin: bin, dir: dir, addr: "unix://" + filepath.Join(dir, "buildkitd.sock")}
	conf := fmt.Sprintf(`root = %q
[worker.oci]
  enabled = true
  snapshotter = "overlayfs"
  gc = false
[worker.containerd]
  enabled = false
[registry.%q]
  http = true
  insecure = true
`, filepath.Join(dir, "root"), insecure)
	if err := os.WriteFile(filepath.Join(dir, "buildkitd.toml"), []byte(conf), 0o600); err != nil {
		b.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "buildkitd.log"))
	if err != nil {
		b.Fatal(err)
	}
	k.cmd = exec.Command(filepath.Join(bin, "buildkitd"), "--config", filepath.Join(dir, "buildkitd.toml"),
		"--addr", k.addr, "--oci-worker-net", "host")
	k.cmd.Stdout, k.cmd.Stderr = logf, logf
	k.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := k.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = k.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = k.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = k.cmd.Process.Kill()
			<-done
		}
		logf.Close()
		_ = exec.Command("umount", "-R", "-l", filepath.Join(dir, "root")).Run()
		_ = os.RemoveAll(dir)
	})
	for deadline := time.Now().Add(60 * time.Second); ; {
		if err := k.ctl("debug", "workers"); err == nil {
			return k
		} else if time.Now().After(deadline) {
			raw, _ := os.ReadFile(filepath.Join(dir, "buildkitd.log"))
			b.Fatalf("buildkitd did not answer: %v\n%s", err, raw)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (k *buildkit) ctl(args ...string) error {
	out, err := exec.Command(filepath.Join(k.bin, "buildctl"), append([]string{"--addr", k.addr}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("buildctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// build builds containerfile as a Dockerfile, pushes it as ref and
// returns its digest. extra are more buildctl build flags.
func (k *buildkit) build(containerfile, ref string, noCache bool, secrets map[string][]byte, extra ...string) (string, error) {
	dir, err := os.MkdirTemp(k.dir, "context-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(containerfile), 0o600); err != nil {
		return "", err
	}
	meta := filepath.Join(dir, "metadata.json")
	args := []string{"build", "--frontend", "dockerfile.v0", "--local", "context=" + dir, "--local", "dockerfile=" + dir,
		"--output", "type=image,name=" + ref + ",push=true,registry.insecure=true", "--metadata-file", meta}
	if noCache {
		args = append(args, "--no-cache")
	}
	for _, id := range slices.Sorted(maps.Keys(secrets)) {
		file := filepath.Join(dir, "secret-"+id)
		if err := os.WriteFile(file, secrets[id], 0o600); err != nil {
			return "", err
		}
		args = append(args, "--secret", "id="+id+",src="+file)
	}
	if err := k.ctl(append(args, extra...)...); err != nil {
		return "", err
	}
	raw, err := os.ReadFile(meta)
	if err != nil {
		return "", err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", err
	}
	d, _ := m["containerimage.digest"].(string)
	if d == "" {
		return "", fmt.Errorf("no digest in buildctl's metadata: %s", raw)
	}
	return d, nil
}

// dropPackageCaches empties BuildKit's cache mounts (its package caches).
func (k *buildkit) dropPackageCaches() error {
	return k.ctl("prune", "--all", "--filter", "type==exec.cachemount")
}

// dropAll empties BuildKit's cache and store.
func (k *buildkit) dropAll() error { return k.ctl("prune", "--all") }

// side is one builder's figures over the rounds of a scenario.
type side struct {
	times          []time.Duration
	pulled, pushed int64
}

func (s *side) add(d time.Duration, pulled, pushed int64) {
	s.times = append(s.times, d)
	s.pulled += pulled
	s.pushed += pushed
}

func (s *side) min() time.Duration { return slices.Min(s.times) }

func (s *side) median() time.Duration {
	t := slices.Clone(s.times)
	slices.Sort(t)
	if len(t)%2 == 1 {
		return t[len(t)/2]
	}
	return (t[len(t)/2-1] + t[len(t)/2]) / 2
}

func report(b *testing.B, ib, bk *side) {
	n := float64(len(ib.times))
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	mb := func(v int64) float64 { return float64(v) / n / (1 << 20) }
	b.ReportMetric(ms(ib.median()), "ib-median-ms")
	b.ReportMetric(ms(ib.min()), "ib-min-ms")
	b.ReportMetric(ms(bk.median()), "bk-median-ms")
	b.ReportMetric(ms(bk.min()), "bk-min-ms")
	b.ReportMetric(float64(ib.median())/float64(bk.median()), "ib/bk")
	b.ReportMetric(mb(ib.pushed), "ib-pushed-MiB")
	b.ReportMetric(mb(bk.pushed), "bk-pushed-MiB")
	b.ReportMetric(mb(ib.pulled), "ib-pulled-MiB")
	b.ReportMetric(mb(bk.pulled), "bk-pulled-MiB")
	b.Logf("Image Builder: median %v, min %v; BuildKit: median %v, min %v; ratio %.2f; pushed %.1f vs %.1f MiB, pulled %.1f vs %.1f MiB per round",
		ib.median().Round(time.Millisecond), ib.min().Round(time.Millisecond), bk.median().Round(time.Millisecond), bk.min().Round(time.Millisecond),
		float64(ib.median())/float64(bk.median()), mb(ib.pushed), mb(bk.pushed), mb(ib.pulled), mb(bk.pulled))
}

// vsBuildKit is the shared set-up of the scenarios.
type vsBuildKit struct {
	r       *enginetest.Rig
	reg     *countingRegistry
	target  registry.Target
	bk      *buildkit
	base    string
	index   *spectest.PyIndex
	sources spec.Sources
	limits  executor.Limits
}

// pipWheels are the local index's packages: p01 … p60, no dependencies.
func pipWheels() []spectest.Wheel {
	var w []spectest.Wheel
	for i := 1; i <= 60; i++ {
		w = append(w, spectest.Wheel{Name: fmt.Sprintf("p%02d", i), Version: "1.0"})
	}
	return w
}

func newVsBuildKit(b *testing.B) *vsBuildKit {
	r := enginetest.Get(b)
	v := &vsBuildKit{r: r, reg: newCountingRegistry(b, r.Target.Host)}
	if err := r.Engine.SetInsecureRegistries(r.Target.Host, v.reg.Host); err != nil {
		b.Fatal(err)
	}
	v.target = registry.Target{Host: v.reg.Host, Insecure: true}
	v.base = v.reg.Host + strings.TrimPrefix(r.Debian(b), r.Target.Host)
	v.bk = startBuildkit(b, v.reg.Host)
	v.index = spectest.ServePyIndex(b, "", "", pipWheels()...)
	host := strings.TrimPrefix(strings.TrimSuffix(v.index.URL, "/simple"), "http://")
	v.sources = spec.Sources{PipIndexURL: v.index.URL, PipTrustedHosts: []string{host}}
	if errs := v.sources.Check(); len(errs) > 0 {
		b.Fatal(errs)
	}
	return v
}

// round builds s on both sides, in alternating order, and adds each
// side's time and bytes. prev are the APT steps kept (as the queue's plan
// would); noCache rebuilds every step.
func (v *vsBuildKit) round(b *testing.B, i int, s db.ImageSpec, prev [][]string, noCache bool, ib, bk *side) {
	cf, err := spec.ContainerfileWith(s, spec.Options{Sources: v.sources, PreviousAPT: prev})
	if err != nil {
		b.Fatal(err)
	}
	v.timed(b, i, ib, bk, func() error {
		var log strings.Builder
		if _, err := v.r.Engine.Build(context.Background(), engine.BuildRequest{Spec: s, Tag: fmt.Sprint(i), Registry: v.target,
			Sources: v.sources, PreviousAPT: prev, NoCache: noCache, Limits: v.limits, Log: &log}); err != nil {
			return fmt.Errorf("%w\n%s", err, log.String())
		}
		return nil
	}, func() error {
		_, err := v.bk.build(cf, v.reg.Host+"/bk-"+s.Name+":"+fmt.Sprint(i), noCache, v.sources.SecretFiles())
		return err
	})
}

// cold builds s with no layer and no package cache on either side.
func (v *vsBuildKit) cold(b *testing.B, s db.ImageSpec) {
	var ib, bk side
	for i := 0; i < b.N; i++ {
		if err := v.r.Engine.ClearCaches(); err != nil {
			b.Fatal(err)
		}
		if err := v.bk.dropPackageCaches(); err != nil {
			b.Fatal(err)
		}
		v.round(b, i, s, nil, true, &ib, &bk)
	}
	report(b, &ib, &bk)
}

// timed runs one build on each side, in an order that alternates with i,
// and adds each side's time and the bytes it moved.
func (v *vsBuildKit) timed(b *testing.B, i int, ib, bk *side, buildIB, buildBK func() error) {
	one := func(name string, s *side, build func() error) {
		v.reg.moved()
		start := time.Now()
		if err := build(); err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		d := time.Since(start)
		pulled, pushed := v.reg.moved()
		s.add(d, pulled, pushed)
	}
	if i%2 == 0 {
		one("Image Builder", ib, buildIB)
		one("BuildKit", bk, buildBK)
	} else {
		one("BuildKit", bk, buildBK)
		one("Image Builder", ib, buildIB)
	}
}

var (
	benchTen   = []string{"jq", "curl", "less", "file", "tree", "zip", "unzip", "xz-utils", "bzip2", "patch"}
	benchAdded = []string{"rsync", "bc", "lsof", "nano", "strace", "htop", "procps", "wget", "gnupg", "vim-tiny"}
)

// BenchmarkVsBuildKit runs the scenarios of the comparison; -benchtime Nx
// sets the rounds of each.
func BenchmarkVsBuildKit(b *testing.B) {
	v := newVsBuildKit(b)
	ten := db.ImageSpec{Name: "bench-ten", BaseImage: v.base, APT: benchTen}
	// Both sides once, untimed: the base pulled, the Debian lists fetched.
	v.round(b, 0, ten, nil, false, &side{}, &side{})

	b.Run("1-cold-debian-ten-apt", func(b *testing.B) { v.cold(b, ten) })

	b.Run("2-no-op", func(b *testing.B) {
		var ib, bk side
		for i := 0; i < b.N; i++ {
			v.round(b, i, ten, nil, false, &ib, &bk)
		}
		report(b, &ib, &bk)
	})

	// The testing package runs a benchmark with b.N = 1 first: each round
	// of 3 and 4 adds a package no earlier round (of any run) added.
	addedAPT := 0
	b.Run("3-one-apt-package-added", func(b *testing.B) {
		if addedAPT+b.N > len(benchAdded) {
			b.Fatalf("at most %d rounds in all", len(benchAdded))
		}
		var ib, bk side
		for i := 0; i < b.N; i++ {
			// A package neither side built before, on the kept steps.
			s := ten
			s.APT = append(slices.Clone(benchTen), benchAdded[addedAPT])
			addedAPT++
			v.round(b, i, s, [][]string{benchTen}, false, &ib, &bk)
		}
		report(b, &ib, &bk)
	})

	withPip := db.ImageSpec{Name: "bench-pip", BaseImage: v.base, APT: []string{"python3-pip", "jq"}, Pip: []string{"p01", "p02", "p03"}}
	v.round(b, 0, withPip, nil, false, &side{}, &side{})
	addedPip := 0
	b.Run("4-one-pip-package-added", func(b *testing.B) {
		if addedPip+b.N > 20 {
			b.Fatal("at most 20 rounds in all")
		}
		var ib, bk side
		for i := 0; i < b.N; i++ {
			s := withPip
			s.Pip = append(slices.Clone(withPip.Pip), fmt.Sprintf("p%02d", 41+addedPip))
			addedPip++
			v.round(b, i, s, nil, false, &ib, &bk)
		}
		report(b, &ib, &bk)
	})

	forty := db.ImageSpec{Name: "bench-forty", BaseImage: v.base, APT: []string{"python3-pip"}}
	for i := 1; i <= 40; i++ {
		forty.Pip = append(forty.Pip, fmt.Sprintf("p%02d", i))
	}
	b.Run("5-cold-forty-pip-packages", func(b *testing.B) { v.cold(b, forty) })

	// 6: a builder with an empty store that may import the layer cache an
	// earlier build exported to the registry (Image Builder's cache
	// repository, as its build pods use; BuildKit's registry cache).
	ibCache, bkCache := v.reg.Host+"/cache/bench-ten", v.reg.Host+"/bkcache/bench-ten"
	if _, err := v.r.Engine.Build(context.Background(), engine.BuildRequest{Spec: ten, Tag: "cache", Registry: v.target,
		Sources: v.sources, NoCache: true, CacheRepo: ibCache}); err != nil {
		b.Fatal(err)
	}
	tenCF, err := spec.ContainerfileWith(ten, spec.Options{Sources: v.sources})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := v.bk.build(tenCF, v.reg.Host+"/bk-bench-ten:cache", true, nil,
		"--export-cache", "type=registry,ref="+bkCache+",mode=max,registry.insecure=true"); err != nil {
		b.Fatal(err)
	}
	b.Run("6-empty-store-registry-cache", func(b *testing.B) {
		// engine.New points TMPDIR at its own data directory: give it
		// back to the rig's engine after each fresh one.
		rigTmp := os.Getenv("TMPDIR")
		parent, err := os.MkdirTemp("", "bench-fresh-")
		if err != nil {
			b.Fatal(err)
		}
		defer func() {
			_ = os.Setenv("TMPDIR", rigTmp)
			_ = os.RemoveAll(parent)
		}()
		var ib, bk side
		for i := 0; i < b.N; i++ {
			dir, err := os.MkdirTemp(parent, "engine-")
			if err != nil {
				b.Fatal(err)
			}
			fresh, err := engine.New(engine.Config{DataDir: dir, InsecureRegistries: []string{v.reg.Host}})
			if err != nil {
				b.Fatal(err)
			}
			if err := v.bk.dropAll(); err != nil {
				b.Fatal(err)
			}
			v.timed(b, i, &ib, &bk, func() error {
				var log strings.Builder
				if _, err := fresh.Build(context.Background(), engine.BuildRequest{Spec: ten, Tag: fmt.Sprint("c", i), Registry: v.target,
					Sources: v.sources, CacheRepo: ibCache, Log: &log}); err != nil {
					return fmt.Errorf("%w\n%s", err, log.String())
				}
				if !strings.Contains(log.String(), "Cache pulled from remote") {
					return fmt.Errorf("no cached layer used:\n%s", log.String())
				}
				return nil
			}, func() error {
				_, err := v.bk.build(tenCF, v.reg.Host+"/bk-bench-ten:c"+fmt.Sprint(i), false, nil,
					"--import-cache", "type=registry,ref="+bkCache+",registry.insecure=true")
				return err
			})
			if err := fresh.Close(); err != nil {
				b.Fatal(err)
			}
			_ = os.Setenv("TMPDIR", rigTmp)
			if err := os.RemoveAll(dir); err != nil {
				b.Fatal(err)
			}
		}
		report(b, &ib, &bk)
	})
}
