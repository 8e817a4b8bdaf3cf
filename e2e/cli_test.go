package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// `imagebuilder containerfile` prints the Containerfile, or every
// validation error as list:line: message and exits 2.
func TestContainerfileCommand(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		must(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	run := func(spec string) (string, string, int) {
		var out, errOut bytes.Buffer
		cmd := exec.Command(binPath, "containerfile", "-f", spec)
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return out.String(), errOut.String(), exit.ExitCode()
		}
		must(t, err)
		return out.String(), errOut.String(), 0
	}
	out, _, code := run(write("ok.json", `{"name":"ok","baseImage":"debian:bookworm","apt":["jq"],"pip":["requests>=2"]}`))
	if code != 0 || !strings.HasPrefix(out, "# Image Builder spec ok\nFROM debian:bookworm\nRUN --mount=type=cache,id=imagebuilder-apt,") || !strings.Contains(out, `"apt","jq"]`) {
		t.Fatalf("valid spec: exit %d\n%s", code, out)
	}
	_, stderr, code := run(write("bad.json", `{"name":"Bad","baseImage":"debian:bookworm","apt":["curl","curl; rm -rf /"],"conda":["numpy[foo=1]"],"pip":["-r x"]}`))
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	want := []string{`name: "Bad" has an uppercase letter`, `apt:2: "curl; rm -rf /" holds more than one word`, `conda:1: unknown key "foo"`, `pip:1: options such as "-r" are not allowed`}
	if code != 2 || len(lines) != len(want) {
		t.Fatalf("invalid spec: exit %d\n%s", code, stderr)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q, want %q", i, lines[i], w)
		}
	}
}
