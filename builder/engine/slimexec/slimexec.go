// Package slimexec makes Buildah's re-executions of this binary start fast.
//
// Buildah and containers/storage run parts of every build step in a child
// process of this very binary (/proc/self/exe with argv[0] naming the job:
// buildah-copier, chrootuser-open, buildah-chroot-runtime,
// buildah-chroot-exec, storage-untar, …), about a dozen per RUN step. Each
// such start pays for the whole portal's initialisation (the Kubernetes
// client, the registry, the pages: about 55 ms of package init, 75 ms in
// all) before Buildah's code runs; BuildKit's runc starts in about 15 ms.
//
// So the portal carries two slim helpers, binaries built from this
// repository and embedded here by `make`: the helper (./helper, bin/helper)
// with only Buildah, containers/storage and the step-exit code (about
// 30 ms per start), and the small one (./small, bin/small) with only
// Buildah's copier and storage's archive commands, which are most of the
// starts (about 14 ms). Install writes them to
// /run/imagebuilder-reexec/<pid>-<start time>[.small] of this process; a C
// constructor (redirect.go), which runs before Go starts in a re-executed
// child, execs the one that serves argv[0] when its parent is this process,
// so the child starts as that helper. It answers Buildah's
// "chrootuser-open" (three or four per step) itself, in C. A child whose
// parent installed nothing runs as before, and Install returns why, for
// the caller to log.
//
// It owns the helper's installation and the redirect; the helper owns
// nothing but its main.
package slimexec

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Dir holds one helper per running process that installed one.
const Dir = "/run/imagebuilder-reexec"

//go:embed bin
var embedded embed.FS

// ProbeCommand is a re-exec command that prints which binary answered:
// "portal" without the redirect, "helper" with it; SmallProbeCommand the
// same for the small helper ("small").
const (
	ProbeCommand      = "imagebuilder-slimexec-probe"
	SmallProbeCommand = "imagebuilder-slimexec-probe-small"
)

// helpers are the embedded helpers: where each is embedded, the suffix of
// its installed file (redirect.go knows both), its probe and its answer.
var helpers = []struct{ embedded, suffix, probe, answer string }{
	{"bin/helper", "", ProbeCommand, "helper"},
	{"bin/small", ".small", SmallProbeCommand, "small"},
}

// ProbeEnv=1 marks the probe's process, so a binary that does not run
// reexec.Init before its main (a test binary) answers too, from here.
const ProbeEnv = "IMAGEBUILDER_SLIMEXEC_PROBE"

func init() {
	if len(os.Args) > 0 && (os.Args[0] == ProbeCommand || os.Args[0] == SmallProbeCommand) && os.Getenv(ProbeEnv) == "1" {
		fmt.Println("portal")
		os.Exit(0)
	}
}

// probe runs command as this process's child, which the redirect makes
// a helper: it must answer as that helper.
func probe(command, answer string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/proc/self/exe")
	cmd.Args = []string{command}
	cmd.Env = append(os.Environ(), ProbeEnv+"=1")
	out, err := cmd.Output()
	if err != nil || string(out) != answer+"\n" {
		return fmt.Errorf("a re-execution did not start as the %s helper (it answered %q, %v)", answer, out, err)
	}
	return nil
}

var (
	once      sync.Once
	installed []string // the helper's path first
	failed    error
)

// Install writes the helpers for this process's re-executions once and
// returns the helper's path, or why there is none (this process's
// re-executions then start as the whole binary: slower, otherwise the
// same).
func Install() (string, error) {
	once.Do(func() {
		installed, failed = install()
		if failed != nil {
			removeAll(installed)
			installed = nil
		}
	})
	if failed != nil {
		return "", failed
	}
	return installed[0], nil
}

// install writes every helper and returns the paths it wrote.
func install() ([]string, error) {
	bins := make([][]byte, len(helpers))
	for i, h := range helpers {
		b, err := fs.ReadFile(embedded, h.embedded)
		if err != nil {
			return nil, fmt.Errorf("this binary carries no re-exec helper %s (`make` builds it into builder/engine/slimexec/bin before the binary)", h.embedded)
		}
		if err := sameModules(b); err != nil {
			return nil, fmt.Errorf("%s: %w", h.embedded, err)
		}
		bins[i] = b
	}
	if err := os.MkdirAll(Dir, 0o755); err != nil {
		return nil, err
	}
	// Root executes what is there: only root may write it.
	fi, err := os.Lstat(Dir)
	if err != nil {
		return nil, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || st.Uid != 0 || fi.Mode().Perm()&0o022 != 0 {
		return nil, fmt.Errorf("%s is not a directory only root can write", Dir)
	}
	start, err := startTime(os.Getpid())
	if err != nil {
		return nil, err
	}
	removeStale()
	base := filepath.Join(Dir, fmt.Sprintf("%d-%d", os.Getpid(), start))
	var paths []string
	for i, h := range helpers {
		path := base + h.suffix
		if err := writeExecutable(path, bins[i]); err != nil {
			return paths, err
		}
		paths = append(paths, path)
	}
	// A /run mounted noexec, or a security module, would stop the exec.
	for _, h := range helpers {
		if err := probe(h.probe, h.answer); err != nil {
			return paths, err
		}
	}
	return paths, nil
}

// writeExecutable writes body to path (through a temporary file, so the
// redirect never runs half a file).
func writeExecutable(path string, body []byte) error {
	tmp := path + ".new"
	_ = os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := f.Write(body); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func removeAll(paths []string) {
	for _, p := range paths {
		_ = os.Remove(p)
	}
}

// sameModules refuses a helper built with other versions of the modules
// both binaries run (a stale bin/helper).
func sameModules(helper []byte) error {
	hi, err := buildinfo.Read(bytes.NewReader(helper))
	if err != nil {
		return fmt.Errorf("the re-exec helper: %w", err)
	}
	own, ok := debug.ReadBuildInfo()
	if !ok {
		return errors.New("this binary has no build information to compare the re-exec helper with")
	}
	mine := map[string]string{}
	for _, d := range own.Deps {
		mine[d.Path] = d.Version
	}
	if hi.GoVersion != own.GoVersion {
		return fmt.Errorf("the re-exec helper was built with %s, this binary with %s: run make", hi.GoVersion, own.GoVersion)
	}
	// Same cgo and tags. Not the VCS revision: a commit that changes no
	// source would fail it, and `make` rebuilds the helper whenever a
	// source changes.
	settings := func(bi *debug.BuildInfo) map[string]string {
		m := map[string]string{}
		for _, kv := range bi.Settings {
			m[kv.Key] = kv.Value
		}
		return m
	}
	hs, ms := settings(hi), settings(own)
	for _, k := range []string{"CGO_ENABLED", "-tags"} {
		if h, o := hs[k], ms[k]; h != o {
			return fmt.Errorf("the re-exec helper was built with %s=%q, this binary with %q: run make", k, h, o)
		}
	}
	for _, d := range hi.Deps {
		if v, ok := mine[d.Path]; ok && v != d.Version {
			return fmt.Errorf("the re-exec helper has %s %s, this binary %s: run make", d.Path, d.Version, v)
		}
	}
	return nil
}

// startTime is field 22 of /proc/<pid>/stat, as redirect.go reads it.
func startTime(pid int) (uint64, error) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(raw, ')')
	f := strings.Fields(string(raw[i+1:]))
	if i < 0 || len(f) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected %q", pid, raw)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// removeStale removes the helpers of processes that ended.
func removeStale() {
	entries, _ := os.ReadDir(Dir)
	for _, e := range entries {
		name := strings.TrimSuffix(strings.TrimSuffix(e.Name(), ".new"), ".small")
		pid, start, ok := strings.Cut(name, "-")
		p, err1 := strconv.Atoi(pid)
		s, err2 := strconv.ParseUint(start, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			continue
		}
		if now, err := startTime(p); err != nil || now != s {
			_ = os.Remove(filepath.Join(Dir, e.Name()))
		}
	}
}

// Uninstall removes this process's helpers; call it as the process ends
// (its re-executions then run the whole binary).
func Uninstall() {
	once.Do(func() { failed = errors.New("the re-exec helper was uninstalled") })
	removeAll(installed)
}
