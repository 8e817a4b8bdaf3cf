// Package enginetest is the build tests' rig: one in-process engine and one
// embedded registry shared by a test binary, with the base images that
// `make setup` made, imported once. Production code must not import it.
package enginetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"imagebuilder/builder/engine"
	"imagebuilder/builder/engine/slimexec"
	"imagebuilder/builder/registry"

	"github.com/sirupsen/logrus"
	"go.podman.io/buildah"
	"golang.org/x/crypto/bcrypt"

	"imagebuilder/builder/registry/images"
)

// Rig is one engine and one embedded registry, with a client for the
// images in it.
type Rig struct {
	Dir    string
	Engine *engine.Engine
	Images *images.Client
	Server *registry.Registry
	// Target is the embedded registry as builds push to it.
	Target registry.Target

	mu      sync.Mutex
	bases   map[string]string
	started time.Time
}

var (
	once   sync.Once
	shared *Rig
	err    error
)

// Get returns the test binary's rig, opening it on first use.
func Get(t testing.TB) *Rig {
	t.Helper()
	once.Do(func() {
		var dir string
		if dir, err = os.MkdirTemp("", "imagebuilder-builder-test-"); err != nil {
			return
		}
		var srv *registry.Registry
		if srv, err = registry.Start(context.Background(), registry.Config{Dir: filepath.Join(dir, "registry"), Addr: "127.0.0.1:0"}); err != nil {
			return
		}
		var eng *engine.Engine
		if eng, err = engine.New(engine.Config{DataDir: dir, InsecureRegistries: []string{srv.Host()}, StepLimits: true}); err != nil {
			return
		}
		var client *images.Client
		if client, err = images.New(images.Config{Dir: filepath.Join(dir, "images"), Own: registry.Target{Host: srv.Host(), Insecure: true}}); err != nil {
			return
		}
		shared = &Rig{Dir: dir, Engine: eng, Images: client, Server: srv, Target: registry.Target{Host: srv.Host(), Insecure: true}, bases: map[string]string{}, started: time.Now()}
	})
	if err != nil {
		t.Fatal(err)
	}
	return shared
}

// Close shuts the shared rig down, if one was opened: the engine (which
// unmounts its layers), the registry, and its directory, so a test run
// leaves no mount or temporary directory behind. Call it from TestMain.
func Close() error {
	defer slimexec.Uninstall()
	if shared == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return errors.Join(shared.Engine.Close(), shared.Server.Close(ctx), os.RemoveAll(shared.Dir))
}

// baseCacheDir is where make setup leaves the rootfs tarballs: .cache/base
// at the top of the module.
func baseCacheDir() string {
	if d := os.Getenv("IMAGEBUILDER_BASE_CACHE"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", ".cache", "base")
}

// Base imports a cached rootfs once and returns its reference.
func (r *Rig) Base(t testing.TB, file, image, cmd string) string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if ref, ok := r.bases[image]; ok {
		return ref
	}
	path := filepath.Join(baseCacheDir(), file)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("base rootfs %s is missing: run `make setup` first (%v)", path, err)
	}
	res, err := r.Engine.ImportRootfs(context.Background(), path, r.Target.Host+"/"+image,
		engine.BaseImageConfig{Cmd: []string{cmd}, Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
		r.Target, nil)
	if err != nil {
		t.Fatalf("import %s: %v", file, err)
	}
	r.bases[image] = res.Image
	return res.Image
}

// Busybox is the one-binary busybox base image.
func (r *Rig) Busybox(t testing.TB) string {
	return r.Base(t, "busybox.tar", "library/busybox:latest", "/bin/sh")
}

// Debian is the debootstrap Debian bookworm base image.
func (r *Rig) Debian(t testing.TB) string {
	return r.Base(t, "debian-bookworm.tar", "library/debian:bookworm", "/bin/bash")
}

// Derived builds containerfile (FROM one of the rig's bases) once as
// target, pushes it, and returns target.
func (r *Rig) Derived(t testing.TB, containerfile, target string) string {
	t.Helper()
	r.mu.Lock()
	ref, ok := r.bases[target]
	r.mu.Unlock()
	if ok {
		return ref
	}
	if _, err := r.Engine.BuildContainerfile(context.Background(), engine.ContainerfileBuild{Containerfile: containerfile, Target: target}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Engine.Push(context.Background(), target, target, r.Target, nil); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.bases[target] = target
	r.mu.Unlock()
	return target
}

// Hungry is busybox with a stand-in apt-get whose install holds
// about 150 MB in a shell variable (update does nothing).
func (r *Rig) Hungry(t testing.TB) string {
	t.Helper()
	stand := "FROM " + r.Busybox(t) + "\n" +
		`RUN ["/bin/sh","-c","mkdir -p /usr/bin && printf '#!/bin/sh\\ncat /proc/$$/cgroup\\ncase \" $* \" in *\" update \"*) exit 0;; esac\\necho allocating\\nx=$(head -c 150000000 /dev/zero | tr \"\\\\\\\\0\" a)\\necho allocated ${#x}\\n' > /usr/bin/apt-get && chmod +x /usr/bin/apt-get"]` + "\n"
	return r.Derived(t, stand, r.Target.Host+"/library/hungry:1")
}

// Leftovers lists what builds left in the rig's data directory: mounts
// other than the open store's own, Buildah scratch entries, and build
// context directories. A finished, failed, cancelled or timed-out build
// leaves none.
func (r *Rig) Leftovers(t testing.TB) []string {
	t.Helper()
	var out []string
	raw, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || !strings.HasPrefix(f[4], r.Dir+"/") || f[4] == filepath.Join(r.Dir, "storage", "overlay") {
			continue
		}
		out = append(out, "mount "+f[4])
	}
	scratch, _ := filepath.Glob(filepath.Join(r.Dir, "tmp", "buildah*"))
	scratch = slices.DeleteFunc(scratch, func(p string) bool { // the package caches stay
		return strings.HasPrefix(filepath.Base(p), "buildah-cache-")
	})
	copies, _ := filepath.Glob(filepath.Join(r.Dir, "tmp", "container_images_*"))
	// containers/image's big files go to /var/tmp unless told otherwise:
	// none of this run's may be there.
	elsewhere, _ := filepath.Glob("/var/tmp/container_images_*")
	for _, p := range elsewhere {
		if fi, err := os.Stat(p); err == nil && !fi.ModTime().Before(r.started) {
			copies = append(copies, p)
		}
	}
	// The images client's scratch space (pull secrets, blob copies) is
	// emptied after each call.
	client, _ := filepath.Glob(filepath.Join(r.Dir, "images", "tmp", "*"))
	copies = append(copies, client...)
	works, _ := filepath.Glob(filepath.Join(r.Dir, "run", "build-*"))
	for _, p := range append(append(scratch, copies...), works...) {
		out = append(out, "file "+p)
	}
	return out
}

// Main is the TestMain of a package whose tests build: the re-exec hook
// that chroot isolation needs, quiet library logs, then the tests, then
// the rig closed, so no mount or directory outlives the run.
func Main(m interface{ Run() int }) {
	if buildah.InitReexec() {
		return
	}
	logrus.SetLevel(logrus.WarnLevel)
	code := m.Run()
	if err := Close(); err != nil {
		fmt.Fprintln(os.Stderr, "close the test rig:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// PasswordRegistry starts another embedded registry, which asks for user
// and password, for the test; it stops when the test ends.
func PasswordRegistry(t testing.TB, user, password string) *registry.Registry {
	t.Helper()
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reg, err := registry.Start(context.Background(), registry.Config{Dir: filepath.Join(dir, "registry"), Addr: "127.0.0.1:0", HtpasswdPath: htpasswd})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close(context.Background()) })
	return reg
}
