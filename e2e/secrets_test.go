package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"imagebuilder/builder/registry"
	"imagebuilder/db"
	"imagebuilder/db/failure"
)

// A registry that requires sign-in holds a private base image. Builds pull
// it with a pull secret (from the spec, or from its Image Management entry)
// and push to it with the registry password; without a secret the build
// fails with a clear reason. The secret values never appear in any page,
// job log, download, live feed or server log.
func TestPrivateBaseImageAndNoSecretLeaks(t *testing.T) {
	const marker = "MARKER-secret-value-7d41e9"
	auth := base64.StdEncoding.EncodeToString([]byte("robot:" + marker))

	// The private registry: the embedded one, with htpasswd.
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte(marker), bcrypt.DefaultCost)
	must(t, err)
	htpasswd := filepath.Join(dir, "htpasswd")
	must(t, os.WriteFile(htpasswd, []byte("robot:"+string(hash)+"\n"), 0o600))
	reg, err := registry.Start(context.Background(), registry.Config{Dir: filepath.Join(dir, "blobs"), Addr: "127.0.0.1:0", HtpasswdPath: htpasswd})
	must(t, err)
	defer reg.Close(context.Background())
	private := reg.Host()

	// Publish the private base image from another data directory.
	var cliOut strings.Builder
	publish := exec.Command(binPath, "import-base", "--data-dir", filepath.Join(dir, "publisher"),
		"--registry", private, "--registry-username", "robot", "--registry-insecure",
		"--rootfs", baseTar(t, "busybox.tar"), "--image", "private/busybox:1")
	publish.Env = append(os.Environ(), "IMAGEBUILDER_REGISTRY_PASSWORD="+marker)
	publish.Stdout, publish.Stderr = &cliOut, &cliOut
	if err := publish.Run(); err != nil {
		t.Fatalf("publish: %v\n%s", err, cliOut.String())
	}
	base := private + "/private/busybox:1"

	in := newInstance(t)
	srv := in.serve()
	store := in.store()
	ctx := context.Background()
	post := func(path string, form url.Values) {
		t.Helper()
		if resp := srv.postForm(path, form); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST %s: %s", path, resp.Status)
		}
	}
	post("/settings/registry", url.Values{"mode": {"external"}, "host": {private}, "username": {"robot"}, "password": {marker}, "insecure": {"on"}})
	post("/settings/secrets", url.Values{"name": {"private"}, "content": {`{"auths":{"` + private + `":{"auth":"` + auth + `"}}}`}})

	build := func(name string, form url.Values) db.Job {
		t.Helper()
		form.Set("name", name)
		post("/specs", form)
		jobs, err := store.ListJobs(ctx, name)
		if err != nil || len(jobs) == 0 {
			t.Fatalf("%s: no job (%v)", name, err)
		}
		return waitJob(t, store, jobs[0].ID, 2*time.Minute, db.StatusSucceeded, db.StatusFailed)
	}
	// First without a secret, while no copy of the base is in the store.
	without := build("without-secret", url.Values{"baseImage": {base}})
	if without.Status != db.StatusFailed || without.Failure.Code() != failure.PullAuth || !strings.Contains(without.Failure.Text(), "pulling the base image was refused: authentication required") {
		t.Fatalf("without a pull secret: %s %q", without.Status, without.Failure.Text())
	}
	with := build("with-secret", url.Values{"baseImage": {base}, "usePullSecret": {"on"}, "pullSecret": {"private"}})
	if with.Status != db.StatusSucceeded || with.Image != private+"/with-secret:1" {
		t.Fatalf("with the pull secret: %+v\n%s", with, readFile(in.logPath(with.ID)))
	}
	// A failing build that uses both secrets.
	failing := build("failing", url.Values{"baseImage": {base}, "usePullSecret": {"on"}, "pullSecret": {"private"}, "apt": {"jq"}})
	if failing.Status != db.StatusFailed || !strings.Contains(failing.Failure.Text(), "the base image has no apt-get") {
		t.Fatalf("failing build: %+v", failing)
	}
	// The pull secret of the base image's Image Management entry.
	images, _ := store.ListBaseImages(ctx)
	for _, b := range images {
		if b.Reference == base {
			t.Fatal("the publisher's Image Management entry leaked into this data directory")
		}
	}
	post("/images", url.Values{"name": {"Private BusyBox"}, "reference": {base}, "pullSecret": {"private"}})
	viaEntry := build("via-entry", url.Values{"baseImage": {base}})
	if viaEntry.Status != db.StatusSucceeded {
		t.Fatalf("pull secret from Image Management: %+v", viaEntry)
	}
	// The pushed images are really in the private registry.
	req, _ := http.NewRequest("GET", "http://"+private+"/v2/with-secret/manifests/1", nil)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
	req.SetBasicAuth("robot", marker)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Docker-Content-Digest") != with.Digest {
		t.Fatalf("manifest in the private registry: %s %q", resp.Status, resp.Header.Get("Docker-Content-Digest"))
	}

	// Search everything a person or a log collector could see.
	client, _ := srv.signedInClient()
	seen := map[string]string{}
	fetch := func(path string) {
		resp, err := client.Get(srv.url(path))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		seen["GET "+path] = string(body)
	}
	for _, p := range []string{"/specs", "/specs/new", "/images", "/settings/secrets", "/settings/registry"} {
		fetch(p)
	}
	for _, name := range []string{"without-secret", "with-secret", "failing", "via-entry"} {
		fetch("/specs/" + name)
		fetch("/specs/" + name + "/jobs")
		jobs, _ := store.ListJobs(ctx, name)
		for _, j := range jobs {
			for _, p := range []string{"/jobs/%d", "/jobs/%d/log", "/jobs/%d/events"} {
				fetch(fmt.Sprintf(p, j.ID))
			}
			seen["log file "+fmt.Sprint(j.ID)] = readFile(in.logPath(j.ID))
		}
	}
	srv.stop()
	seen["server output"] = srv.out.String()
	seen["import-base output"] = cliOut.String()
	for _, f := range []string{"imagebuilder.db", "imagebuilder.db-wal", "registries.conf", "policy.json"} {
		seen["data file "+f] = readFile(filepath.Join(in.dir, f))
	}
	if len(seen["log file "+fmt.Sprint(with.ID)]) == 0 || !strings.Contains(seen[fmt.Sprintf("GET /jobs/%d/log", with.ID)], "pushed") {
		t.Fatal("the search saw no job log")
	}
	for where, text := range seen {
		for _, secret := range []string{marker, auth} {
			if strings.Contains(text, secret) {
				t.Errorf("%s contains a secret", where)
			}
		}
	}
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}
