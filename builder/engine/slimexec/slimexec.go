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
// So the portal carries a slim helper: a second binary built from this
// repository (./helper) with only Buildah, containers/storage and the
// step-exit code, embedded here by `make` (bin/helper). Install writes it
// to /run/imagebuilder-reexec/<pid>-<start time> of this process; a C
// constructor (redirect.go), which runs before Go starts in a re-executed
// child, execs that file when its parent is this process and argv[0] is a
// re-exec command, so the child starts as the helper (about 30 ms). A
// child whose parent installed nothing runs as before, and Install
// returns why, for the caller to log.
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
// "portal" without the redirect, "helper" with it.
const ProbeCommand = "imagebuilder-slimexec-probe"

// ProbeEnv=1 marks the probe's process, so a binary that does not run
// reexec.Init before its main (a test binary) answers too, from here.
const ProbeEnv = "IMAGEBUILDER_SLIMEXEC_PROBE"

func init() {
	if len(os.Args) > 0 && os.Args[0] == ProbeCommand && os.Getenv(ProbeEnv) == "1" {
		fmt.Println("portal")
		os.Exit(0)
	}
}

// probe runs ProbeCommand as this process's child, which the redirect
// makes the helper: it must answer so.
func probe() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/proc/self/exe")
	cmd.Args = []string{ProbeCommand}
	cmd.Env = append(os.Environ(), ProbeEnv+"=1")
	out, err := cmd.Output()
	if err != nil || string(out) != "helper\n" {
		return fmt.Errorf("a re-execution did not start as the helper (it answered %q, %v)", out, err)
	}
	return nil
}

var (
	once      sync.Once
	installed string
	failed    error
)

// Install writes the helper for this process's re-executions once and
// returns its path, or why there is none (this process's re-executions
// then start as the whole binary: slower, otherwise the same).
func Install() (string, error) {
	once.Do(func() { installed, failed = install() })
	return installed, failed
}

func install() (string, error) {
	helper, err := fs.ReadFile(embedded, "bin/helper")
	if err != nil {
		return "", errors.New("this binary carries no re-exec helper (`make` builds it into builder/engine/slimexec/bin before the binary)")
	}
	if err := sameModules(helper); err != nil {
		return "", err
	}
	if err := os.MkdirAll(Dir, 0o755); err != nil {
		return "", err
	}
	// Root executes what is there: only root may write it.
	fi, err := os.Lstat(Dir)
	if err != nil {
		return "", err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || st.Uid != 0 || fi.Mode().Perm()&0o022 != 0 {
		return "", fmt.Errorf("%s is not a directory only root can write", Dir)
	}
	start, err := startTime(os.Getpid())
	if err != nil {
		return "", err
	}
	removeStale()
	path := filepath.Join(Dir, fmt.Sprintf("%d-%d", os.Getpid(), start))
	tmp := path + ".new"
	_ = os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return "", err
	}
	if _, err := f.Write(helper); err != nil {
		f.Close()
		os.Remove(tmp)
		return "", err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return "", err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return "", err
	}
	// A /run mounted noexec, or a security module, would stop the exec.
	if err := probe(); err != nil {
		os.Remove(path)
		return "", err
	}
	return path, nil
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
		name := strings.TrimSuffix(e.Name(), ".new")
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

// Uninstall removes this process's helper; call it as the process ends
// (its re-executions then run the whole binary).
func Uninstall() {
	once.Do(func() { failed = errors.New("the re-exec helper was uninstalled") })
	if installed != "" {
		_ = os.Remove(installed)
	}
}
