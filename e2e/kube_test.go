package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/playwright-community/playwright-go"
	"golang.org/x/crypto/bcrypt"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"imagebuilder/builder/inventory"
	"imagebuilder/builder/kube/kubetest"
	"imagebuilder/db"
)

// The embedded registry's credentials when builds run on Kubernetes: pods
// push with them, from their per-job Secret.
const (
	kubeRegistryUser     = "builder"
	kubeRegistryPassword = "registry-password-e2e-51c7"
	kubePullMarker       = "pull-secret-password-e2e-a09d"
)

// kubeInstance is an instance whose registry needs a password and whose
// builds run as Jobs in a fresh namespace of the test cluster, with a
// worker image the product made itself.
func kubeInstance(t *testing.T) (*instance, *kubetest.Cluster, string) {
	t.Helper()
	c := kubetest.Get(t)
	ns := c.Namespace(t)
	in := newInstance(t)
	hash, err := bcrypt.GenerateFromPassword([]byte(kubeRegistryPassword), bcrypt.MinCost)
	must(t, err)
	htpasswd := filepath.Join(t.TempDir(), "htpasswd")
	must(t, os.WriteFile(htpasswd, []byte(kubeRegistryUser+":"+string(hash)+"\n"), 0o600))
	in.args = []string{"--registry-htpasswd", htpasswd, "--registry-username", kubeRegistryUser}
	in.env = []string{"IMAGEBUILDER_REGISTRY_PASSWORD=" + kubeRegistryPassword}

	in.importBase(baseTar(t, "debian-bookworm.tar"), "library/debian:bookworm", "Debian")
	archive := filepath.Join(t.TempDir(), "worker.tar")
	cmd := exec.Command(binPath, append([]string{"worker-image", "--data-dir", in.dir, "--registry-addr", in.regAddr,
		"--image", "docker-archive:" + archive + ":imagebuilder/worker:e2e"}, in.args...)...)
	cmd.Env = append(os.Environ(), in.env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("worker-image: %v\n%s", err, out)
	}
	must(t, c.Import(archive))
	in.args = append(in.args, "--executor", "kubernetes", "--kube-config", c.Kubeconfig, "--kube-namespace", ns,
		"--kube-instance", "e2e", "--kube-worker-image", "imagebuilder/worker:e2e", "--kube-image-pull-policy", "Never",
		"--kube-host-network")
	return in, c, ns
}

// nobody is the unprivileged user the Kubernetes portal runs as in this
// test (the manifests use 65532; any user without privileges does).
const nobody = 65534

// asNobody makes the instance's servers run as nobody, with nothing of
// Buildah in the data directory: what import-base and worker-image (run as
// root, with the engine) left there goes, the directory becomes nobody's,
// and the kubeconfig is a copy nobody can read, with its certificates
// inside. A server that opened Buildah storage, mounted or wrote outside
// its data directory would fail or leave a trace (see buildahLeft). The
// files its flags name (kubeconfig, htpasswd) become nobody's copies.
func (in *instance) asNobody(t *testing.T) {
	t.Helper()
	if left := mountsUnder(t, in.dir); len(left) > 0 {
		t.Fatalf("mounts under the data directory: %v", left)
	}
	for _, p := range buildahPaths {
		must(t, os.RemoveAll(filepath.Join(in.dir, p)))
	}
	for i, a := range in.args {
		switch a {
		case "--kube-config":
			cfg, err := clientcmd.LoadFromFile(in.args[i+1])
			must(t, err)
			must(t, clientcmdapi.FlattenConfig(cfg))
			own := filepath.Join(in.dir, "kubeconfig")
			must(t, clientcmd.WriteToFile(*cfg, own))
			in.args[i+1] = own
		case "--registry-htpasswd":
			raw, err := os.ReadFile(in.args[i+1])
			must(t, err)
			own := filepath.Join(in.dir, "htpasswd")
			must(t, os.WriteFile(own, raw, 0o600))
			in.args[i+1] = own
		}
	}
	must(t, filepath.WalkDir(in.dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, nobody, nobody)
	}))
	// The test's temporary directories are root's (0700): nobody may pass
	// through them to its own.
	for d := filepath.Dir(in.dir); d != os.TempDir() && d != "/" && strings.HasPrefix(d, filepath.Dir(binPath)); d = filepath.Dir(d) {
		must(t, os.Chmod(d, 0o711))
	}
	must(t, os.Chmod(filepath.Dir(binPath), 0o711))
	// Its temporary files go where nobody may write.
	tmp := t.TempDir()
	must(t, os.Chown(tmp, nobody, nobody))
	in.env = append(in.env, "TMPDIR="+tmp)
	in.cred = &syscall.Credential{Uid: nobody, Gid: nobody}
}

// buildahPaths are what the in-process engine keeps in a data directory.
var buildahPaths = []string{"storage", "run", "tmp", "policy.json", "registries.conf"}

// buildahLeft are those of buildahPaths the data directory holds.
func buildahLeft(dir string) []string {
	var left []string
	for _, p := range buildahPaths {
		if _, err := os.Lstat(filepath.Join(dir, p)); err == nil {
			left = append(left, p)
		}
	}
	return left
}

// jobPods are the pods of a job's Kubernetes Job.
func jobPods(t *testing.T, c *kubetest.Cluster, ns string, id int64) []string {
	t.Helper()
	list, err := c.Client.CoreV1().Pods(ns).List(context.Background(),
		metav1.ListOptions{LabelSelector: fmt.Sprintf("batch.kubernetes.io/job-name=imagebuilder-e2e-%d", id)})
	must(t, err)
	var names []string
	for _, p := range list.Items {
		names = append(names, p.Name)
	}
	return names
}

func TestBuildsOnKubernetes(t *testing.T) {
	in, c, ns := kubeInstance(t)
	steady := in.importBase(busyboxWithAptGet(t,
		"case \" $* \" in *\" install \"*) ;; *) exit 0;; esac\nfor i in 1 2 3 4 5 6 7 8; do echo \"unpacking part $i\"; sleep 1; done\n"),
		"library/steady-apt:1", "Steady apt")
	// The portal itself needs no privileges and no Buildah storage: it
	// runs as nobody, and reads and tags images through the registry.
	in.asNobody(t)
	srv := in.serve()
	store := in.store()
	ctx := context.Background()
	auth := base64.StdEncoding.EncodeToString([]byte(kubeRegistryUser + ":" + kubePullMarker))
	if resp := srv.postForm("/settings/secrets", url.Values{"name": {"team"},
		"content": {`{"auths":{"other.example:5000":{"auth":"` + auth + `"}}}`}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add pull secret: %s", resp.Status)
	}

	// A busybox-based spec: its Job and pod appear, its log arrives live
	// in the browser, and the page shows the pushed digest.
	if resp := srv.postForm("/specs", url.Values{"name": {"k-busybox"}, "baseImage": {steady}, "apt": {"jq"},
		"usePullSecret": {"on"}, "pullSecret": {"team"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %s", resp.Status)
	}
	jobs, err := store.ListJobs(ctx, "k-busybox")
	must(t, err)
	first := jobs[0]
	page := newPage(t, "en-US")
	shot := &shots{t: t, page: page}
	signIn(t, page, srv, fmt.Sprintf("/jobs/%d", first.ID))
	log := byTestID(page, "log")
	must(t, expect.Locator(log).ToContainText(fmt.Sprintf("Kubernetes Job %s/imagebuilder-e2e-%d created", ns, first.ID)))
	must(t, expect.Locator(log).ToContainText("unpacking part 2"))
	if j, _ := store.GetJob(ctx, first.ID); j.Status != db.StatusBuilding {
		t.Fatalf("the log arrived only after the build: %s", j.Status)
	}
	if pods := jobPods(t, c, ns, first.ID); len(pods) != 1 {
		t.Fatalf("pods of the running build: %v", pods)
	}
	kj, err := c.Client.BatchV1().Jobs(ns).Get(ctx, fmt.Sprintf("imagebuilder-e2e-%d", first.ID), metav1.GetOptions{})
	must(t, err)
	spec, _ := json.Marshal(kj)
	for _, secret := range []string{kubePullMarker, kubeRegistryPassword, auth} {
		if strings.Contains(string(spec), secret) {
			t.Fatalf("a secret is in the Job spec: %s", spec)
		}
	}
	shot.take("kube-building")
	status := byTestID(page, "job-meta").Locator(`[data-testid="status"]`)
	must(t, expect.Locator(status).ToHaveAttribute("data-status", "succeeded", playwright.LocatorAssertionsToHaveAttributeOptions{Timeout: playwright.Float(120000)}))
	done := waitJob(t, store, first.ID, 10*time.Second, db.StatusSucceeded)
	must(t, expect.Locator(byTestID(page, "job-digest")).ToHaveText(done.Digest))
	must(t, expect.Locator(byTestID(page, "job-image")).ToHaveText(in.regAddr+"/k-busybox:1"))
	shot.take("kube-succeeded")
	_, err = page.Goto(srv.url("/settings/registry"))
	must(t, err)
	must(t, expect.Locator(byTestID(page, "executor-kind")).ToHaveText("Kubernetes: one Job per build"))
	must(t, expect.Locator(byTestID(page, "executor-namespace")).ToHaveText(ns))
	must(t, expect.Locator(byTestID(page, "executor-worker")).ToHaveText("imagebuilder/worker:e2e"))
	checkOverflow(t, page, "settings with the Kubernetes executor")
	shot.take("kube-settings")

	// A Debian spec with a real APT package, fetched in the pod.
	if resp := srv.postForm("/specs", url.Values{"name": {"k-debian"}, "baseImage": {in.regAddr + "/library/debian:bookworm"},
		"apt": {"jq"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %s", resp.Status)
	}
	jobs, err = store.ListJobs(ctx, "k-debian")
	must(t, err)
	deb := waitJob(t, store, jobs[0].ID, 5*time.Minute, db.StatusSucceeded, db.StatusFailed)
	if deb.Status != db.StatusSucceeded || !strings.HasPrefix(deb.Digest, "sha256:") {
		t.Fatalf("Debian on Kubernetes: %+v\n%s", deb, lastLines(readFile(in.logPath(deb.ID)), 30))
	}
	if l := readFile(in.logPath(deb.ID)); !strings.Contains(l, "Setting up jq") {
		t.Errorf("the Debian build's log does not show jq installed:\n%s", lastLines(l, 30))
	}
	// What the portal does with images in its password-protected registry,
	// with its own credentials and without Buildah: the inventory read from
	// the pushed layers, the form's base check, and a revision whose content
	// was built before reused by a new tag, with no pod.
	if inv, ok, err := store.GetInventory(ctx, deb.ID); err != nil || !ok || !inv.OK || !slices.ContainsFunc(inv.Packages, func(p inventory.Package) bool { return p.Name == "jq" }) {
		t.Fatalf("the Debian revision's inventory: %v %v %+v", ok, err, inv.Error)
	}
	client, csrf := srv.signedInClient()
	resp, err := client.PostForm(srv.url("/specs/check-base"), url.Values{"csrf": {csrf},
		"baseImage": {in.regAddr + "/library/debian:bookworm"}, "apt": {"jq"}})
	must(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Debian GNU/Linux 12") {
		t.Fatalf("the base check of a base in the protected registry: %s\n%s", resp.Status, body)
	}
	for _, apt := range []string{"", "jq"} {
		if resp := srv.postForm("/specs/k-debian", url.Values{"baseImage": {in.regAddr + "/library/debian:bookworm"}, "apt": {apt}}); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("edit k-debian: %s", resp.Status)
		}
		jobs, err = store.ListJobs(ctx, "k-debian")
		must(t, err)
		waitJob(t, store, jobs[0].ID, 3*time.Minute, db.StatusSucceeded)
	}
	if again, _ := store.GetJob(ctx, jobs[0].ID); again.ReusedFrom != deb.ID || again.Digest != deb.Digest || len(jobPods(t, c, ns, again.ID)) != 0 {
		all, _ := store.ListJobs(ctx, "k-debian")
		for _, j := range all {
			t.Logf("revision %d: key %s, base %s, reused from %d\n%s", j.Revision, j.ContentKey, j.BaseDigest, j.ReusedFrom, strings.Join(strings.SplitN(readFile(in.logPath(j.ID)), "\n", 8)[:7], "\n"))
		}
		t.Fatalf("back to revision 1's content: %+v, pods %v", again, jobPods(t, c, ns, again.ID))
	}

	// Cancel from the browser: the pod goes.
	if resp := srv.postForm("/specs", url.Values{"name": {"k-cancel"}, "baseImage": {steady}, "apt": {"jq"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %s", resp.Status)
	}
	jobs, err = store.ListJobs(ctx, "k-cancel")
	must(t, err)
	cancelled := jobs[0]
	_, err = page.Goto(srv.url(fmt.Sprintf("/jobs/%d", cancelled.ID)))
	must(t, err)
	must(t, expect.Locator(log).ToContainText("unpacking part 1"))
	must(t, byTestID(page, "cancel-job").Click())
	must(t, expect.Locator(status).ToHaveAttribute("data-status", "cancelled"))
	deadline := time.Now().Add(time.Minute)
	for len(jobPods(t, c, ns, cancelled.ID)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the cancelled build's pod is still there: %v", jobPods(t, c, ns, cancelled.ID))
		}
		time.Sleep(200 * time.Millisecond)
	}

	// kill -9 of the portal during a build: after the restart it follows
	// the pod again and the job succeeds, each log line once.
	if resp := srv.postForm("/specs", url.Values{"name": {"k-restart"}, "baseImage": {steady}, "apt": {"jq"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %s", resp.Status)
	}
	jobs, err = store.ListJobs(ctx, "k-restart")
	must(t, err)
	restarted := jobs[0]
	waitLog(t, in.logPath(restarted.ID), "unpacking part 2", 2*time.Minute)
	srv.kill()
	if pods := jobPods(t, c, ns, restarted.ID); len(pods) != 1 {
		t.Fatalf("the build pod did not outlive the portal: %v", pods)
	}
	srv = in.serve()
	after := waitJob(t, store, restarted.ID, 3*time.Minute, db.StatusSucceeded, db.StatusFailed)
	text := readFile(in.logPath(restarted.ID))
	if after.Status != db.StatusSucceeded {
		t.Fatalf("after the restart: %+v\n%s", after, lastLines(text, 30))
	}
	if !strings.Contains(text, "following its pod again") {
		t.Errorf("the log does not say it re-attached:\n%s", text)
	}
	for i := 1; i <= 8; i++ {
		if n := strings.Count(text, fmt.Sprintf("unpacking part %d\n", i)); n != 1 {
			t.Errorf("line %d is in the log %d times:\n%s", i, n, text)
		}
	}

	// No secret in any log or in the server's output.
	for _, j := range []int64{first.ID, deb.ID, cancelled.ID, restarted.ID} {
		l := readFile(in.logPath(j))
		for _, secret := range []string{kubePullMarker, kubeRegistryPassword, auth} {
			if strings.Contains(l, secret) {
				t.Errorf("job %d's log holds a secret", j)
			}
		}
	}
	if strings.Contains(srv.out.String(), kubeRegistryPassword) || strings.Contains(srv.out.String(), kubePullMarker) {
		t.Error("the server's output holds a secret")
	}
	if left := buildahLeft(in.dir); len(left) > 0 {
		t.Errorf("the portal made Buildah's files in its data directory: %v", left)
	}
}
