package slimexec_test

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"go.podman.io/storage/pkg/reexec"

	"imagebuilder/builder/engine/slimexec"
)

func TestMain(m *testing.M) {
	if reexec.Init() {
		return
	}
	os.Exit(m.Run())
}

// A re-execution of this binary by the process that installed the helper
// starts as the helper; one by any other parent runs this binary, as
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
	// bash is the parent here (of a subshell that execs): it installed
	// nothing.
	other := exec.Command("bash", "-c", fmt.Sprintf("(exec -a %s /proc/%d/exe); :", slimexec.ProbeCommand, os.Getpid()))
	other.Env = append(os.Environ(), slimexec.ProbeEnv+"=1")
	out, err := other.Output()
	if err != nil || string(out) != "portal\n" {
		t.Errorf("another parent's child answered %q (%v), want this binary", out, err)
	}
}
