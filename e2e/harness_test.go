package e2e

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"imagebuilder/builder/kube/kubetest"
	"imagebuilder/db"
	"imagebuilder/db/dbtest"
)

// binPath is the real imagebuilder binary, built once for the package.
var binPath string

func TestMain(m *testing.M) {
	tmp, err := os.MkdirTemp("", "imagebuilder-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(tmp, "imagebuilder")
	build := exec.Command("go", "build", "-o", binPath, ".")
	build.Dir = ".."
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if !strings.Contains(os.Getenv("GOFLAGS"), "containers_image_openpgp") {
		build.Env = append(build.Env, "GOFLAGS=-tags=containers_image_openpgp,exclude_graphdriver_btrfs")
	}
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build imagebuilder: %v\n%s", err, out)
		os.RemoveAll(tmp)
		os.Exit(1)
	}
	// Browsers and the binary leave temporary files: keep them in the run.
	runTmp := filepath.Join(tmp, "tmp")
	os.MkdirAll(runTmp, 0o755)
	os.Setenv("TMPDIR", runTmp)
	code := m.Run()
	if err := kubetest.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop the test Kubernetes cluster:", err)
		if code == 0 {
			code = 1
		}
	}
	os.RemoveAll(tmp)
	os.Exit(code)
}

func baseTar(t testing.TB, name string) string {
	p, err := filepath.Abs(filepath.Join("..", ".cache", "base", name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is missing: run `make setup` first", p)
	}
	return p
}

func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// instance is one data directory with its registry address; servers come
// and go on it.
type instance struct {
	t       testing.TB
	dir     string
	regAddr string
	// args and env go to every command run on the instance.
	args []string
	env  []string
	// cred, when set, is who its servers run as (see asNobody).
	cred *syscall.Credential
}

func newInstance(t testing.TB) *instance {
	dir := t.TempDir()
	return &instance{t: t, dir: dir, regAddr: freeAddr(t)}
}

// importBase runs `imagebuilder import-base` and returns the reference.
func (in *instance) importBase(tarPath, image, title string) string {
	in.t.Helper()
	cmd := exec.Command(binPath, append([]string{"import-base", "--data-dir", in.dir, "--registry-addr", in.regAddr,
		"--rootfs", tarPath, "--image", image, "--title", title}, in.args...)...)
	cmd.Env = append(os.Environ(), in.env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		in.t.Fatalf("import-base %s: %v\n%s", image, err, out)
	}
	return in.regAddr + "/" + image
}

func (in *instance) store() *db.DB {
	in.t.Helper()
	d, err := db.Open(filepath.Join(in.dir, "imagebuilder.db"))
	if err != nil {
		in.t.Fatal(err)
	}
	in.t.Cleanup(func() { d.Close() })
	return d
}

func (in *instance) logPath(jobID int64) string {
	return filepath.Join(in.dir, "logs", fmt.Sprintf("%d.log", jobID))
}

// The administrator every test server starts with.
const (
	adminUser     = "admin"
	adminPassword = "e2e-password-123"
)

// server is a running `imagebuilder serve`.
type server struct {
	t    testing.TB
	cmd  *exec.Cmd
	base string
	out  *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (in *instance) serve(args ...string) *server {
	in.t.Helper()
	return in.start(append([]string{"--admin-user", adminUser, "--admin-password", adminPassword}, args...)...)
}

// serveWithoutAdmin starts a server that has no administrator yet.
func (in *instance) serveWithoutAdmin() *server {
	in.t.Helper()
	return in.start()
}

func (in *instance) start(args ...string) *server {
	in.t.Helper()
	addr := freeAddr(in.t)
	all := append(append([]string{"serve", "--data-dir", in.dir, "--addr", addr, "--registry-addr", in.regAddr}, in.args...), args...)
	s := &server{t: in.t, cmd: exec.Command(binPath, all...), base: "http://" + addr, out: &syncBuffer{}, done: make(chan struct{})}
	s.cmd.Env = append(os.Environ(), in.env...)
	if in.cred != nil {
		s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: in.cred}
	}
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		in.t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	// A failed test shows what the server said last (after it stopped:
	// cleanups run last in, first out).
	in.t.Cleanup(func() {
		if in.t.Failed() {
			in.t.Logf("the server's last output:\n%s", lastLines(s.out.String(), 60))
		}
	})
	in.t.Cleanup(s.stop)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		select {
		case <-s.done:
			in.t.Fatalf("serve exited:\n%s", s.out.String())
		default:
		}
		if time.Now().After(deadline) {
			in.t.Fatalf("serve did not come up:\n%s", s.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *server) url(path string) string { return s.base + path }

// kill ends the server with SIGKILL, as a crash would.
func (s *server) kill() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
}

// stop ends the server with SIGTERM and waits.
func (s *server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(60 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signedInClient is an HTTP client with a session: a browser without
// JavaScript. It does not follow redirects.
func (s *server) signedInClient() (*http.Client, string) {
	s.t.Helper()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	token := func(path string) string {
		resp, err := client.Get(s.url(path))
		if err != nil {
			s.t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := csrfInput.FindSubmatch(body)
		if m == nil {
			s.t.Fatalf("no CSRF token on %s (%s)", path, resp.Status)
		}
		return string(m[1])
	}
	resp, err := client.PostForm(s.url("/login"), url.Values{"csrf": {token("/login")}, "username": {adminUser}, "password": {adminPassword}})
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		s.t.Fatalf("sign in: %s", resp.Status)
	}
	return client, token("/specs")
}

// postForm submits a form as a signed-in browser without JavaScript would;
// when the spec form asks for a second Confirm (a build that will certainly
// fail, which tests with fake bases make on purpose), it confirms again.
func (s *server) postForm(path string, form url.Values) *http.Response {
	s.t.Helper()
	client, csrf := s.signedInClient()
	form.Set("csrf", csrf)
	resp, err := client.PostForm(s.url(path), form)
	if err != nil {
		s.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusUnprocessableEntity && strings.Contains(string(body), `data-testid="confirm-again"`) {
		if m := ackInput.FindSubmatch(body); m != nil {
			form.Set("ack", string(m[1]))
			return s.postForm(path, form)
		}
	}
	return resp
}

// ackInput is the spec form's answer to its second Confirm.
var ackInput = regexp.MustCompile(`name="ack" value="([^"]+)"`)

// waitJob waits until the job has one of the statuses.
func waitJob(t testing.TB, store *db.DB, id int64, timeout time.Duration, want ...db.Status) db.Job {
	t.Helper()
	return dbtest.WaitJob(t, store, id, timeout, nil, want...)
}

// mountsUnder lists the mounts at or below dir, or that use something
// below it as an overlay layer.
func mountsUnder(t testing.TB, dir string) []string {
	t.Helper()
	raw, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.Contains(line, dir+"/") || strings.Contains(line, dir+" ") {
			out = append(out, line)
		}
	}
	return out
}

// buildProcessesUnder lists the processes (pid and command) whose root is
// an overlay built from layers under dir: the build steps of a server on
// that data directory. Processes of other tests running beside this one
// have their own data directories.
func buildProcessesUnder(t testing.TB, dir string) []string {
	t.Helper()
	procs, _ := os.ReadDir("/proc")
	var out []string
	for _, p := range procs {
		if _, err := strconv.Atoi(p.Name()); err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", p.Name(), "mountinfo"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(raw), "\n") {
			f := strings.Fields(line)
			if len(f) < 5 || f[4] != "/" {
				continue
			}
			if strings.Contains(line, "dir="+dir+"/") {
				cmd, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
				out = append(out, p.Name()+" "+strings.ReplaceAll(string(cmd), "\x00", " "))
			}
			break
		}
	}
	return out
}

// waitLog waits until a job's log file contains text.
func waitLog(t testing.TB, path, text string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		raw, _ := os.ReadFile(path)
		if strings.Contains(string(raw), text) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never showed %q:\n%s", path, text, raw)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// slowAptRootfs is the busybox rootfs plus an apt-get that prints a line
// and sleeps: a build with APT lines stays in its APT step.
func slowAptRootfs(t testing.TB) string {
	t.Helper()
	return busyboxWithAptGet(t, "echo apt-get is slow today\nsleep 300\n")
}

// busyboxWithAptGet is the busybox rootfs with /usr/bin/apt-get replaced
// by a shell script with the given body.
func busyboxWithAptGet(t testing.TB, body string) string {
	t.Helper()
	script := []byte("#!/bin/sh\n" + body)
	return busyboxPlus(t, "slow-apt.tar", func(tw *tar.Writer) error {
		for _, h := range []*tar.Header{
			{Name: "./usr/", Typeflag: tar.TypeDir, Mode: 0o755},
			{Name: "./usr/bin/", Typeflag: tar.TypeDir, Mode: 0o755},
			{Name: "./usr/bin/apt-get", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(script))},
		} {
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
		}
		_, err := tw.Write(script)
		return err
	})
}

// busyboxPlus is the busybox rootfs tarball with what add writes after
// it, as a new tarball named name.
func busyboxPlus(t testing.TB, name string, add func(*tar.Writer) error) string {
	t.Helper()
	src, err := os.Open(baseTar(t, "busybox.tar"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	path := filepath.Join(t.TempDir(), name)
	dst, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	tw := tar.NewWriter(dst)
	tr := tar.NewReader(src)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			t.Fatal(err)
		}
	}
	if err := add(tw); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}
