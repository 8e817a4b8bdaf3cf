package builder

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"imagebuilder/db"
)

// cliBuilder runs Debian's buildah CLI on its own store, configured like the
// engine (chroot isolation, host network, layers).
type cliBuilder struct {
	root, runroot, policy, registries string
}

func newCLIBuilder(b *testing.B, r *testRig) *cliBuilder {
	if _, err := exec.LookPath("buildah"); err != nil {
		b.Fatalf("the buildah CLI is needed for the comparison (make setup installs it): %v", err)
	}
	dir := b.TempDir()
	c := &cliBuilder{root: filepath.Join(dir, "root"), runroot: filepath.Join(dir, "run"),
		policy: r.engine.policyPath, registries: r.engine.registriesPath}
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
// alternating order, and reports both times and their ratio.
func benchmarkEngineVsCLI(b *testing.B, noCache bool) {
	r := getRig(b)
	spec := db.ImageSpec{Name: "bench", BaseImage: r.debian(b), APT: []string{"jq"}}
	cf, err := Containerfile(spec)
	if err != nil {
		b.Fatal(err)
	}
	cli := newCLIBuilder(b, r)
	// Prime both: base image pulled, layers cached for the warm case.
	if _, err := r.engine.buildContainerfile(context.Background(), cf, "localhost/bench:prime", nil, false, nil); err != nil {
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
			if _, err := r.engine.buildContainerfile(context.Background(), cf, "localhost/bench:run", nil, noCache, nil); err != nil {
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

// BenchmarkTail2000Of1GiB reads the last 2000 lines of a 1 GiB log.
func BenchmarkTail2000Of1GiB(b *testing.B) {
	s, _ := NewLogStore(b.TempDir())
	f, err := os.Create(s.Path(1))
	if err != nil {
		b.Fatal(err)
	}
	line := []byte("2026-11-23T09:00:00.000Z Unpacking libjq1:amd64 (1.6-2.1+deb12u3) over (1.6-2.1) ... some more build output\n")
	block := bytes.Repeat(line, (1<<20)/len(line))
	for written := 0; written < 1<<30; written += len(block) {
		if _, err := f.Write(block); err != nil {
			b.Fatal(err)
		}
	}
	f.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		lines, _, _, err := s.Tail(1, 2000)
		if err != nil || len(lines) != 2000 {
			b.Fatal(len(lines), err)
		}
	}
}

// BenchmarkLiveFeed50kLinesTo10Followers writes 50,000 lines while ten
// followers read them live; it reports the delivered lines per second per
// follower (all ten get every line).
func BenchmarkLiveFeed50kLinesTo10Followers(b *testing.B) {
	const lines, followers = 50_000, 10
	line := []byte("Setting up libonig5:amd64 (6.9.8-1) ... a typical line of build output\n")
	for i := 0; i < b.N; i++ {
		s, _ := NewLogStore(b.TempDir())
		l, _ := s.Open(1)
		var wg sync.WaitGroup
		counts := make([]int, followers)
		done := make(chan struct{})
		finished := func() bool {
			select {
			case <-done:
				return true
			default:
				return false
			}
		}
		for f := 0; f < followers; f++ {
			wg.Add(1)
			go func(f int) {
				defer wg.Done()
				_ = s.Follow(context.Background(), 1, 0, finished, func([]byte, int64) error {
					counts[f]++
					return nil
				})
			}(f)
		}
		start := time.Now()
		for n := 0; n < lines; n++ {
			l.Write(line)
		}
		l.Close()
		close(done)
		wg.Wait()
		elapsed := time.Since(start)
		for f, c := range counts {
			if c != lines {
				b.Fatalf("follower %d got %d lines", f, c)
			}
		}
		b.ReportMetric(float64(lines)/elapsed.Seconds(), "lines/s/follower")
	}
}
