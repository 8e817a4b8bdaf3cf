package engine_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"imagebuilder/builder/engine"
	"imagebuilder/builder/engine/enginetest"
	"imagebuilder/builder/logs/logstest"
	"imagebuilder/builder/spec"
	"imagebuilder/db"
)

// aptRepo is a signed flat APT repository on loopback behind basic auth,
// with one package the test builds with dpkg-deb and a key made by gpg.
type aptRepo struct {
	url, key string
}

func serveAPTRepo(t *testing.T, user, password string) aptRepo {
	t.Helper()
	for _, tool := range []string{"dpkg-deb", "gpg"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is needed to make a signed APT repository: %v", tool, err)
		}
	}
	dir := t.TempDir()
	run := func(name string, args ...string) []byte {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Env = append(os.Environ(), "GNUPGHOME="+filepath.Join(dir, "gnupg"))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s %v: %v", name, args, err)
		}
		return out
	}
	pkg := filepath.Join(dir, "pkg")
	for path, body := range map[string]string{
		"DEBIAN/control":             "Package: ibtest-hello\nVersion: 1.0\nArchitecture: all\nMaintainer: Image Builder tests <tests@example.com>\nDescription: made by an Image Builder test\n",
		"usr/share/ibtest/hello.txt": "hello from the extra source\n",
	} {
		must(t, os.MkdirAll(filepath.Dir(filepath.Join(pkg, path)), 0o755))
		must(t, os.WriteFile(filepath.Join(pkg, path), []byte(body), 0o644))
	}
	repo := filepath.Join(dir, "repo")
	must(t, os.MkdirAll(repo, 0o755))
	run("dpkg-deb", "--root-owner-group", "--build", pkg, filepath.Join(repo, "ibtest-hello_1.0_all.deb"))
	deb, err := os.ReadFile(filepath.Join(repo, "ibtest-hello_1.0_all.deb"))
	must(t, err)
	control, _ := os.ReadFile(filepath.Join(pkg, "DEBIAN/control"))
	sum := sha256.Sum256(deb)
	packages := fmt.Sprintf("%sFilename: ./ibtest-hello_1.0_all.deb\nSize: %d\nSHA256: %s\n\n", control, len(deb), hex.EncodeToString(sum[:]))
	must(t, os.WriteFile(filepath.Join(repo, "Packages"), []byte(packages), 0o644))
	psum := sha256.Sum256([]byte(packages))
	release := fmt.Sprintf("Origin: ibtest\nLabel: ibtest\nDate: %s\nArchitectures: all amd64 arm64\nSHA256:\n %s %d Packages\n",
		time.Now().UTC().Format(time.RFC1123), hex.EncodeToString(psum[:]), len(packages))
	must(t, os.WriteFile(filepath.Join(repo, "Release"), []byte(release), 0o644))
	must(t, os.MkdirAll(filepath.Join(dir, "gnupg"), 0o700))
	run("gpg", "--batch", "--passphrase", "", "--quick-gen-key", "Image Builder test <ibtest@example.com>", "rsa2048", "sign", "never")
	run("gpg", "--batch", "--yes", "--clearsign", "-o", filepath.Join(repo, "InRelease"), filepath.Join(repo, "Release"))
	key := string(run("gpg", "--armor", "--export"))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	files := http.FileServer(http.Dir(repo))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="repo"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		files.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return aptRepo{url: "http://" + user + ":" + password + "@" + ln.Addr().String() + "/", key: key}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// An extra APT source with its key, behind a password: the step installs
// from it, the image keeps neither the source line nor its key, and the
// password is in no layer, the image's history or the log.
func TestExtraAPTSourceWithKeyInstallsWithoutLeaving(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads Debian packages")
	}
	const password = "apt-MARKER-93b2"
	repo := serveAPTRepo(t, "mirror", password)
	r := enginetest.Get(t)
	sources := spec.Sources{APTSource: "deb " + repo.url + " ./", APTKey: repo.key}
	if errs := sources.Check(); len(errs) > 0 {
		t.Fatal(errs)
	}
	s := db.ImageSpec{Name: "apt-extra", BaseImage: r.Debian(t), APT: []string{"ibtest-hello"}}
	var log logstest.Buffer
	if _, err := r.Engine.Build(context.Background(), engine.BuildRequest{Spec: s, Tag: "1", Registry: r.Target, Log: &log, Sources: sources}); err != nil {
		t.Fatalf("build: %v\n%s", err, log.String())
	}
	config, layers := imageBlobs(t, r.Target.Host, "apt-extra", "1")
	var names []string
	for _, l := range layers {
		tr := tar.NewReader(bytes.NewReader(l))
		for h, err := tr.Next(); err == nil; h, err = tr.Next() {
			names = append(names, h.Name)
		}
	}
	all := strings.Join(names, "\n")
	if !strings.Contains(all, "usr/share/ibtest/hello.txt") {
		t.Error("the package from the extra source is not in the image")
	}
	if strings.Contains(all, "imagebuilder-extra.list") || strings.Contains(all, "imagebuilder-apt") {
		t.Error("the extra source or its key stayed in the image")
	}
	if bytes.Contains(bytes.Join(append(layers, config), nil), []byte(password)) {
		t.Error("the source's password is in the image")
	}
	if strings.Contains(log.String(), password) {
		t.Errorf("the source's password is in the log:\n%s", log.String())
	}
	if !strings.Contains(log.String(), "Setting up ibtest-hello (1.0)") {
		t.Errorf("the package was not installed:\n%s", log.String())
	}
}
