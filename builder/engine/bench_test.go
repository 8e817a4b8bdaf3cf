package engine_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/types"

	"imagebuilder/builder/engine"
	"imagebuilder/builder/engine/enginetest"
	"imagebuilder/builder/executor"
	"imagebuilder/builder/inventory"
	"imagebuilder/builder/spec"
	"imagebuilder/db"
)

// cliBuilder runs Debian's buildah CLI on its own store, configured like the
// engine (chroot isolation, host network, layers).
type cliBuilder struct {
	root, runroot, policy, registries string
}

func newCLIBuilder(b *testing.B, r *enginetest.Rig) *cliBuilder {
	if _, err := exec.LookPath("buildah"); err != nil {
		b.Fatalf("the buildah CLI is needed for the comparison (make setup installs it): %v", err)
	}
	dir := b.TempDir()
	c := &cliBuilder{root: filepath.Join(dir, "root"), runroot: filepath.Join(dir, "run"),
		policy: r.Engine.PolicyPath(), registries: r.Engine.RegistriesConfPath()}
	b.Cleanup(func() {
		exec.Command("buildah", "--root", c.root, "--runroot", c.runroot, "rm", "--all").Run()
		exec.Command("umount", "-R", filepath.Join(c.root, "overlay")).Run()
	})
	return c
}

func (c *cliBuilder) build(containerfile, tag string, noCache bool) error {
	dir, err := os.MkdirTemp("", "cli-build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "Containerfile"), []byte(containerfile), 0o600); err != nil {
		return err
	}
	args := []string{"--root", c.root, "--runroot", c.runroot, "--storage-driver", "overlay",
		"--registries-conf", c.registries, "bud", "--signature-policy", c.policy,
		"--isolation", "chroot", "--network", "host", "--layers", "--pull", "--tls-verify=false",
		"--format", "oci", "-f", filepath.Join(dir, "Containerfile"), "-t", tag}
	if noCache {
		args = append(args, "--no-cache")
	}
	out, err := exec.Command("buildah", append(args, dir)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("buildah bud: %v\n%s", err, out)
	}
	return nil
}

// benchmarkEngineVsCLI builds the same Containerfile (Debian + apt-get
// install jq) with the in-process engine and with the buildah CLI, in
// alternating order, and reports both times and their ratio. The engine
// builds as the queue has it build: in a control group of its own where
// this machine allows it (Engine.Build's limits, zero here).
func benchmarkEngineVsCLI(b *testing.B, noCache bool) {
	r := enginetest.Get(b)
	var limits *executor.Limits
	if r.Engine.Capabilities().StepLimits {
		limits = &executor.Limits{}
	}
	bench := db.ImageSpec{Name: "bench", BaseImage: r.Debian(b), APT: []string{"jq"}}
	cf, err := spec.Containerfile(bench)
	if err != nil {
		b.Fatal(err)
	}
	cli := newCLIBuilder(b, r)
	// Prime both: base image pulled, layers cached for the warm case.
	if _, err := r.Engine.BuildContainerfile(context.Background(), engine.ContainerfileBuild{Containerfile: cf, Target: "localhost/bench:prime"}); err != nil {
		b.Fatal(err)
	}
	if err := cli.build(cf, "localhost/bench:prime", false); err != nil {
		b.Fatal(err)
	}
	var inproc, viaCLI time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		runEngine := func() {
			start := time.Now()
			if _, err := r.Engine.BuildContainerfile(context.Background(), engine.ContainerfileBuild{Containerfile: cf, Target: "localhost/bench:run", NoCache: noCache, Limits: limits}); err != nil {
				b.Fatal(err)
			}
			inproc += time.Since(start)
		}
		runCLI := func() {
			start := time.Now()
			if err := cli.build(cf, "localhost/bench:run", noCache); err != nil {
				b.Fatal(err)
			}
			viaCLI += time.Since(start)
		}
		if i%2 == 0 {
			runEngine()
			runCLI()
		} else {
			runCLI()
			runEngine()
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(inproc.Milliseconds())/float64(b.N), "inprocess-ms/build")
	b.ReportMetric(float64(viaCLI.Milliseconds())/float64(b.N), "cli-ms/build")
	b.ReportMetric(float64(inproc)/float64(viaCLI), "inprocess/cli")
}

func BenchmarkBuildColdInProcessVsCLI(b *testing.B) { benchmarkEngineVsCLI(b, true) }
func BenchmarkBuildWarmInProcessVsCLI(b *testing.B) { benchmarkEngineVsCLI(b, false) }

// BenchmarkAPTCacheAddOnePackage builds the Debian spec with ten APT
// packages on empty package caches (cold), then the same spec plus one
// package as the queue would (the previous APT step kept, one step for
// the new package, the APT cache warm). Target: the second build takes
// at most 35% of the first. With -cache-only, the second build re-runs
// the whole APT step and only the package cache helps.
func BenchmarkAPTCacheAddOnePackage(b *testing.B) {
	r := enginetest.Get(b)
	ten := []string{"jq", "curl", "less", "file", "tree", "zip", "unzip", "xz-utils", "bzip2", "patch"}
	base := r.Debian(b)
	render := func(apt []string, prev [][]string) string {
		cf, err := spec.ContainerfileWith(db.ImageSpec{Name: "bench-cache", BaseImage: base, APT: apt}, spec.Options{PreviousAPT: prev})
		if err != nil {
			b.Fatal(err)
		}
		return cf
	}
	eleven := append(append([]string{}, ten...), "rsync")
	for _, mode := range []struct {
		name string
		prev [][]string
	}{{"steps-kept", [][]string{ten}}, {"cache-only", nil}} {
		b.Run(mode.name, func(b *testing.B) {
			cold, warm := render(ten, nil), render(eleven, mode.prev)
			var first, second time.Duration
			build := func(cf string, noCache bool) time.Duration {
				start := time.Now()
				if _, err := r.Engine.BuildContainerfile(context.Background(), engine.ContainerfileBuild{Containerfile: cf, Target: "localhost/bench-cache:run", NoCache: noCache}); err != nil {
					b.Fatal(err)
				}
				return time.Since(start)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				if err := r.Engine.ClearCaches(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				first += build(cold, true)
				second += build(warm, mode.prev == nil)
			}
			b.StopTimer()
			b.ReportMetric(float64(first.Milliseconds())/float64(b.N), "cold-ms")
			b.ReportMetric(float64(second.Milliseconds())/float64(b.N), "plus-one-ms")
			b.ReportMetric(float64(second)/float64(first), "plus-one/cold")
		})
	}
}

// BenchmarkInventoryDebian20 reads what the Debian image with twenty APT
// packages holds, from the registry as the queue does after a push: cold
// (no layer read before) and warm (the base image's layers already read
// for an earlier revision, as for every build on that base after the
// first). Target: under 2 s.
func BenchmarkInventoryDebian20(b *testing.B) {
	r := enginetest.Get(b)
	twenty := []string{"jq", "curl", "less", "file", "tree", "zip", "unzip", "xz-utils", "bzip2", "patch",
		"rsync", "wget", "gnupg", "procps", "nano", "vim-tiny", "htop", "lsof", "strace", "bc"}
	res, err := r.Engine.Build(context.Background(), engine.BuildRequest{Spec: db.ImageSpec{Name: "bench-inventory", BaseImage: r.Debian(b), APT: twenty},
		Tag: "1", Registry: r.Target})
	if err != nil {
		b.Fatal(err)
	}
	built := r.Target.Host + "/bench-inventory@" + res.Digest
	sys := &types.SystemContext{DockerInsecureSkipTLSVerify: types.OptionalBoolTrue, SystemRegistriesConfPath: r.Engine.RegistriesConfPath()}
	scan := func(s *inventory.Scanner, ref string) int {
		dref, err := docker.ParseReference("//" + ref)
		if err != nil {
			b.Fatal(err)
		}
		src, err := dref.NewImageSource(context.Background(), sys)
		if err != nil {
			b.Fatal(err)
		}
		defer src.Close()
		inv, err := s.ScanImage(context.Background(), src, sys)
		if err != nil {
			b.Fatal(err)
		}
		return len(inv.Packages)
	}
	b.Run("cold", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if n := scan(inventory.NewScanner(), built); n < 100 {
				b.Fatalf("only %d packages", n)
			}
		}
	})
	// Warm: the base image's layers were read before (an earlier build on
	// it), the build's own layers were not.
	b.Run("base-read-before", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			s := inventory.NewScanner()
			scan(s, r.Debian(b))
			b.StartTimer()
			scan(s, built)
		}
	})
}
