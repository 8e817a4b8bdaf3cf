package e2e

import (
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"imagebuilder/db"
)

// silentRegistry accepts connections and never answers.
func silentRegistry(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never read or answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}

// A registry that takes the connection and stays silent fails the build
// within --registry-timeout, naming the registry, for the pull of the base
// image and for the push; a build that prints nothing for
// --build-silence-timeout fails as hung.
func TestSilentRegistriesAndSilentBuildsFailInTime(t *testing.T) {
	in := newInstance(t)
	busybox := in.importBase(baseTar(t, "busybox.tar"), "library/busybox:latest", "BusyBox")
	slow := in.importBase(slowAptRootfs(t), "library/slow-apt:1", "Slow apt")
	silent := silentRegistry(t)
	srv := in.serve("--registry-timeout", "2s", "--build-silence-timeout", "3s")
	store := in.store()
	ctx := t.Context()
	started := time.Now()
	if resp := srv.postForm("/specs", url.Values{"name": {"silent-pull"}, "baseImage": {silent + "/library/base:1"}}); resp.StatusCode != 303 {
		t.Fatalf("create: %s", resp.Status)
	}
	jobs, _ := store.ListJobs(ctx, "silent-pull")
	j := waitJob(t, store, jobs[0].ID, time.Minute, db.StatusFailed, db.StatusSucceeded)
	if want := "the registry " + silent + " did not answer within 2s (pulling the base image)"; j.Failure.Text() != want {
		t.Fatalf("silent base registry: %s %q, want %q", j.Status, j.Failure.Text(), want)
	}
	if d := time.Since(started); d > 20*time.Second {
		t.Fatalf("the silent pull took %s to fail", d)
	}

	// Silent output: apt-get prints a line, then sleeps.
	if resp := srv.postForm("/specs", url.Values{"name": {"hung"}, "baseImage": {slow}, "apt": {"jq"}}); resp.StatusCode != 303 {
		t.Fatalf("create: %s", resp.Status)
	}
	jobs, _ = store.ListJobs(ctx, "hung")
	j = waitJob(t, store, jobs[0].ID, time.Minute, db.StatusFailed, db.StatusSucceeded)
	if !strings.HasPrefix(j.Failure.Text(), "no output for 3s: the build looked hung") {
		t.Fatalf("silent build: %s %q", j.Status, j.Failure.Text())
	}

	// Push to a silent registry, saved in Registry settings.
	if resp := srv.postForm("/settings/registry", url.Values{"mode": {"external"}, "host": {silent}, "insecure": {"on"}}); resp.StatusCode != 303 {
		t.Fatalf("registry settings: %s", resp.Status)
	}
	if resp := srv.postForm("/specs", url.Values{"name": {"silent-push"}, "baseImage": {busybox}}); resp.StatusCode != 303 {
		t.Fatalf("create: %s", resp.Status)
	}
	jobs, _ = store.ListJobs(ctx, "silent-push")
	j = waitJob(t, store, jobs[0].ID, time.Minute, db.StatusFailed, db.StatusSucceeded)
	if want := "the registry " + silent + " did not answer within 2s (pushing the image)"; j.Failure.Text() != want {
		t.Fatalf("silent push registry: %s %q, want %q", j.Status, j.Failure.Text(), want)
	}

	// Test connection answers in bounded time too.
	client, csrf := srv.signedInClient()
	start := time.Now()
	resp, err := client.PostForm(srv.url("/settings/registry/test"), url.Values{"csrf": {csrf}, "mode": {"external"}, "host": {silent}, "insecure": {"on"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Test connection took %s against a silent registry", d)
	}
}
