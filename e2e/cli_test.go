package e2e

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"imagebuilder/db"
)

var newTokenText = regexp.MustCompile(`data-testid="new-token">([^<]+)<`)

// apiToken creates an API token on the Account page, as an administrator
// does, and returns it.
func (s *server) apiToken(name string) string {
	s.t.Helper()
	client, csrf := s.signedInClient()
	resp, err := client.PostForm(s.url("/account/tokens"), url.Values{"csrf": {csrf}, "tokenName": {name}, "tokenDays": {"7"}})
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		s.t.Fatalf("create token: %s", resp.Status)
	}
	// The token is on the page the post redirects to, once.
	resp, err = client.Get(s.url(resp.Header.Get("Location")))
	if err != nil {
		s.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := newTokenText.FindSubmatch(body)
	if resp.StatusCode != 200 || m == nil {
		s.t.Fatalf("the page after creating a token: %s", resp.Status)
	}
	return string(m[1])
}

// cli runs the binary's client commands against srv with token; it
// returns the exit code, stdout and stderr.
func cli(t *testing.T, srv *server, token string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binPath, append(args, "--server", srv.base)...)
	cmd.Env = append(os.Environ(), "IMAGEBUILDER_TOKEN="+token, "LANG=C")
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errOut.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), out.String(), errOut.String()
	}
	t.Fatal(err)
	return 0, "", ""
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// The command line against the real server: apply --wait builds on the
// busybox base, a failing build exits 6 with its diagnosis, and every
// other command answers with an exit code a script can use.
func TestCLIAppliesWaitsAndExitsAsTheBuildEnded(t *testing.T) {
	in := newInstance(t)
	busybox := in.importBase(baseTar(t, "busybox.tar"), "library/busybox:latest", "BusyBox")
	noPackages := in.importBase(busyboxWithAptGet(t, `for a; do last=$a; done; case " $* " in *" install "*) echo "E: Unable to locate package $last" >&2; exit 100;; esac`), "library/no-packages:1", "No packages")
	srv := in.serve()
	store := in.store()
	tok := srv.apiToken("ci")

	spec := writeFile(t, "tools.yaml", "name: cli-tools\nbaseImage: "+busybox+"\n")
	code, out, errOut := cli(t, srv, tok, "spec", "apply", "-f", spec, "--wait")
	if code != 0 || !strings.Contains(out, "created cli-tools: revision 1") || !strings.Contains(out, "succeeded") || !strings.Contains(out, "image "+in.regAddr+"/cli-tools:1@sha256:") {
		t.Fatalf("apply --wait: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, _ = cli(t, srv, tok, "spec", "apply", "-f", spec, "--wait"); code != 0 || !strings.Contains(out, "cli-tools unchanged") {
		t.Fatalf("apply of the same spec: exit %d\n%s", code, out)
	}
	if jobs, _ := store.ListJobs(t.Context(), "cli-tools"); len(jobs) != 1 {
		t.Fatalf("an unchanged apply made a revision: %d jobs", len(jobs))
	}
	if code, out, _ = cli(t, srv, tok, "spec", "list"); code != 0 || !regexp.MustCompile(`cli-tools\s+succeeded\s+1\s+`).MatchString(out) {
		t.Fatalf("spec list: exit %d\n%s", code, out)
	}
	code, out, _ = cli(t, srv, tok, "spec", "get", "cli-tools", "-o", "json")
	var got db.ImageSpec
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil || got.Name != "cli-tools" || got.BaseImage != busybox {
		t.Fatalf("spec get -o json: exit %d\n%s", code, out)
	}
	if code, out, _ = cli(t, srv, tok, "spec", "get", "cli-tools", "-o", "yaml"); code != 0 || !strings.Contains(out, "baseImage: "+busybox) {
		t.Fatalf("spec get -o yaml: exit %d\n%s", code, out)
	}
	// What get prints, apply takes back unchanged.
	if code, out, _ = cli(t, srv, tok, "spec", "apply", "-f", writeFile(t, "again.yaml", out)); code != 0 || !strings.Contains(out, "unchanged") {
		t.Fatalf("apply of get's YAML: exit %d\n%s", code, out)
	}
	code, out, _ = cli(t, srv, tok, "job", "list", "--spec", "cli-tools", "-o", "json")
	var jobs []struct {
		ID     int64  `json:"id"`
		Status string `json:"status"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &jobs) != nil || len(jobs) != 1 || jobs[0].Status != "succeeded" {
		t.Fatalf("job list: exit %d\n%s", code, out)
	}
	id := jsonID(jobs[0].ID)
	// Through the API too: the revision's packages and SBOM, and pinning
	// it as the active revision.
	for _, path := range []string{"/jobs/" + id + "/packages", "/jobs/" + id + "/sbom.spdx.json", "/jobs/" + id + "/pinned.json"} {
		req, _ := http.NewRequest("GET", srv.url("/api/v1"+path), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !json.Valid(raw) {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, raw)
		}
	}
	req, _ := http.NewRequest("POST", srv.url("/api/v1/specs/cli-tools/active"), strings.NewReader(`{"job":`+id+`}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var active struct {
		Pinned         bool `json:"pinned"`
		ActiveRevision int  `json:"activeRevision"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&active); err != nil || resp.StatusCode != 200 || !active.Pinned || active.ActiveRevision != 1 {
		t.Fatalf("activate: %d %+v %v", resp.StatusCode, active, err)
	}
	resp.Body.Close()
	if code, out, _ = cli(t, srv, tok, "job", "logs", id); code != 0 || !strings.Contains(out, "FROM "+busybox) {
		t.Fatalf("job logs: exit %d\n%s", code, out)
	}
	if code, follow, _ := cli(t, srv, tok, "job", "logs", id, "--follow"); code != 0 || follow != out {
		t.Fatalf("job logs --follow of a finished job: exit %d, %d bytes, want the %d of the log", code, len(follow), len(out))
	}

	// A build that fails: exit 6 with the diagnosis; follow says the same.
	bad := writeFile(t, "bad.json", `{"name":"cli-broken","baseImage":"`+noPackages+`","apt":["nosuchpackage"]}`)
	code, out, errOut = cli(t, srv, tok, "spec", "apply", "-f", bad, "--wait")
	if code != 6 || !strings.Contains(out, "failed") || !strings.Contains(errOut, "nosuchpackage") {
		t.Fatalf("apply --wait of a failing build: exit %d\n%s%s", code, out, errOut)
	}
	broken, _ := store.ListJobs(t.Context(), "cli-broken")
	bid := jsonID(broken[0].ID)
	if code, out, errOut = cli(t, srv, tok, "job", "logs", bid, "--follow"); code != 6 || !strings.Contains(out, "Unable to locate package nosuchpackage") || !strings.Contains(errOut, "nosuchpackage") {
		t.Fatalf("job logs --follow of the failed job: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, _ = cli(t, srv, tok, "job", "retry", bid); code != 0 || !strings.Contains(out, "revision 2") {
		t.Fatalf("job retry: exit %d\n%s", code, out)
	}
	broken, _ = store.ListJobs(t.Context(), "cli-broken")
	if code, out, errOut = cli(t, srv, tok, "job", "cancel", jsonID(broken[0].ID)); code != 0 && !strings.Contains(errOut, "finished") {
		t.Fatalf("job cancel: exit %d\n%s%s", code, out, errOut)
	}

	// Exit codes for what a script must tell apart.
	invalid := writeFile(t, "invalid.json", `{"name":"cli-invalid","baseImage":"`+busybox+`","apt":["jq","bad;name"]}`)
	if code, _, errOut = cli(t, srv, tok, "spec", "apply", "-f", invalid); code != 3 || !strings.Contains(errOut, "apt line 2") {
		t.Fatalf("apply of an invalid spec: exit %d\n%s", code, errOut)
	}
	typo := writeFile(t, "typo.json", `{"name":"cli-typo","baseImage":"`+busybox+`","apts":["jq"]}`)
	if code, _, errOut = cli(t, srv, tok, "spec", "apply", "-f", typo); code != 3 || !strings.Contains(errOut, "apts") {
		t.Fatalf("apply with a misspelt field: exit %d\n%s", code, errOut)
	}
	if code, _, _ = cli(t, srv, "", "spec", "list"); code != 4 {
		t.Fatalf("no token: exit %d", code)
	}
	if code, _, _ = cli(t, srv, "ibt_wrong", "spec", "list"); code != 4 {
		t.Fatalf("a wrong token: exit %d", code)
	}
	if code, _, _ = cli(t, srv, tok, "spec", "get", "nosuch"); code != 5 {
		t.Fatalf("get of a missing spec: exit %d", code)
	}
	if code, _, _ = cli(t, srv, tok, "spec", "frobnicate"); code != 2 {
		t.Fatalf("an unknown command: exit %d", code)
	}
	if code, out, _ = cli(t, srv, tok, "spec", "delete", "cli-tools"); code != 0 || !strings.Contains(out, "deleted cli-tools") {
		t.Fatalf("spec delete: exit %d\n%s", code, out)
	}
	if code, _, _ = cli(t, srv, tok, "spec", "get", "cli-tools"); code != 5 {
		t.Fatalf("get after delete: exit %d", code)
	}
}

func jsonID(id int64) string {
	b, _ := json.Marshal(id)
	return string(b)
}
