package slimexec_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.podman.io/buildah/pkg/chrootuser"
	"go.podman.io/storage/pkg/reexec"

	"imagebuilder/builder/engine/slimexec"
)

func TestMain(m *testing.M) {
	if reexec.Init() {
		return
	}
	os.Exit(m.Run())
}

// A re-execution of this binary by the process that installed the helpers
// starts as the helper (the small one for the copier's commands); one by any other parent runs this binary, as
// before. `make` builds the helper, so under `make test` its absence
// fails here.
func TestReexecutionsOfTheInstallerStartAsTheHelper(t *testing.T) {
	path, err := slimexec.Install()
	if err != nil {
		t.Fatalf("no helper: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o755 || !strings.HasPrefix(path, slimexec.Dir+"/") {
		t.Fatalf("helper at %s: %v %v", path, fi, err)
	}
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = []string{slimexec.ProbeCommand}
	cmd.Env = append(os.Environ(), slimexec.ProbeEnv+"=1")
	if out, err := cmd.Output(); err != nil || string(out) != "helper\n" {
		t.Errorf("a re-execution answered %q (%v), want the helper", out, err)
	}
	// The copier's and the archive commands' start as the small one.
	small := exec.Command("/proc/self/exe")
	small.Args = []string{slimexec.SmallProbeCommand}
	small.Env = append(os.Environ(), slimexec.ProbeEnv+"=1")
	if out, err := small.Output(); err != nil || string(out) != "small\n" {
		t.Errorf("a re-execution answered %q (%v), want the small helper", out, err)
	}
	if fi, err := os.Stat(path + ".small"); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("small helper at %s.small: %v %v", path, fi, err)
	}
	// bash is the parent here (of a subshell that execs): it installed
	// nothing.
	other := exec.Command("bash", "-c", fmt.Sprintf("(exec -a %s /proc/%d/exe); :", slimexec.ProbeCommand, os.Getpid()))
	other.Env = append(os.Environ(), slimexec.ProbeEnv+"=1")
	out, err := other.Output()
	if err != nil || string(out) != "portal\n" {
		t.Errorf("another parent's child answered %q (%v), want this binary", out, err)
	}
}

// Buildah reads an image's /etc/passwd and /etc/group through its
// "chrootuser-open" re-execution three or four times per RUN step; this
// binary answers it in C before the Go runtime starts (no "init" line of
// GODEBUG=inittrace=1), with the Go original's output and exit status,
// inside the chroot (an absolute symlink stays in it), and Buildah's own
// lookups get the right user, group, home and groups through it.
func TestChrootuserOpenIsAnsweredInCAsBuildahWould(t *testing.T) {
	root := t.TempDir()
	passwd := "root:x:0:0:root:/root:/bin/bash\njovyan:x:1000:100::/home/jovyan:/bin/bash\n"
	group := "root:x:0:\nusers:x:100:\nsudo:x:27:jovyan\n"
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"etc/passwd": passwd, "etc/group": group} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Outside the chroot, /etc/passwd is the host's.
	if err := os.Symlink("/etc/passwd", filepath.Join(root, "etc", "link")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/proc/self/exe", root, "/etc/link", "/etc/missing", "/etc/group", "/etc")
	cmd.Args[0] = "chrootuser-open"
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("exit: %v, want status 1 (a file could not be opened)", err)
	}
	if stdout.String() != passwd+group {
		t.Errorf("output %q, want the chroot's passwd and group", stdout.String())
	}
	if strings.Contains(stderr.String(), "init ") || !strings.Contains(stderr.String(), `open("/etc/missing")`) {
		t.Errorf("stderr %q: the Go runtime started, or the missing file was not named", stderr.String())
	}

	uid, gid, home, err := chrootuser.GetUser(root, "jovyan")
	if err != nil || uid != 1000 || gid != 100 || home != "/home/jovyan" {
		t.Errorf("GetUser: %d %d %q %v", uid, gid, home, err)
	}
	if _, _, _, err := chrootuser.GetUser(root, "nobody-here"); err == nil {
		t.Error("GetUser found a user the image does not have")
	}
	groups, err := chrootuser.GetAdditionalGroupsForUser(root, 1000)
	if err != nil || len(groups) != 1 || groups[0] != 27 {
		t.Errorf("groups: %v %v", groups, err)
	}
}
