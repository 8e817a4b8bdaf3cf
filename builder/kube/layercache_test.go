package kube_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"imagebuilder/builder/kube"
	"imagebuilder/builder/registry"
	"imagebuilder/db"
)

// A build pod starts with an empty store, yet the second build of a
// changed spec keeps its unchanged steps: the first build pushed them to
// the spec's cache repository, the second pulls them from there (on any
// node) and runs only the step that adds the new package.
func TestASecondBuildPodReusesTheLayerCacheInTheRegistry(t *testing.T) {
	g := newRig(t, 10*time.Minute, nil)
	ctx := context.Background()
	base := aptBase(t, g.r, "apt-cache", "#!/bin/sh\ncase \" $* \" in *\" install \"*) echo \"installing $*\";; esac\n")
	_, first, err := g.q.Create(ctx, db.ImageSpec{Name: "kube-cache", BaseImage: base, APT: []string{"jq"}})
	if err != nil {
		t.Fatal(err)
	}
	if done := g.wait(t, first.ID, db.StatusSucceeded, db.StatusFailed); done.Status != db.StatusSucceeded {
		t.Fatalf("first build: %+v\n%s", done, g.log(t, first.ID))
	}
	repo := g.r.Target.Host + "/" + registry.CacheRepository("kube-cache")
	if log := g.log(t, first.ID); !strings.Contains(log, "layer cache: "+repo) {
		t.Errorf("the first build does not name its layer cache %s:\n%s", repo, log)
	}
	_, second, err := g.q.Update(ctx, db.ImageSpec{Name: "kube-cache", BaseImage: base, APT: []string{"jq", "tree"}})
	if err != nil {
		t.Fatal(err)
	}
	done := g.wait(t, second.ID, db.StatusSucceeded, db.StatusFailed)
	log := g.log(t, second.ID)
	if done.Status != db.StatusSucceeded {
		t.Fatalf("second build: %+v\n%s", done, log)
	}
	if !strings.Contains(log, "--> Cache pulled from remote "+repo+":") {
		t.Errorf("the second build pulled no step from the layer cache:\n%s", log)
	}
	// The kept APT step (jq) came from the cache; only tree was installed.
	var installs []string
	for _, line := range strings.Split(log, "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] == "installing" { // after the time
			installs = append(installs, line)
		}
	}
	if len(installs) != 1 || !strings.Contains(installs[0], "tree") || strings.Contains(installs[0], "jq") {
		t.Errorf("the second build's installs: %q\n%s", installs, log)
	}
	// Cache images are not revisions: the spec's own repository holds
	// its revision tags only.
	if got := manifestDigest(t, g.r.Target.Host, "kube-cache", "2"); got != done.Digest {
		t.Errorf("kube-cache:2 is %q, the job says %s", got, done.Digest)
	}
}

// Build pods share their package caches through the volume the
// administrator names: a second spec's build in a new pod installs jq
// without downloading anything the first one fetched, lists included.
func TestBuildPodsSharePackageCachesOnAVolume(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "package-caches")
	g := newRig(t, 10*time.Minute, func(c *kube.Config) {
		c.CacheVolume, _ = kube.ParseCacheVolume("hostpath:" + dir)
		c.MaxCacheSize = 1 << 30
	})
	ctx := context.Background()
	var logs []string
	for _, name := range []string{"kube-pkgcache-a", "kube-pkgcache-b"} {
		_, job, err := g.q.Create(ctx, db.ImageSpec{Name: name, BaseImage: g.r.Debian(t), APT: []string{"jq"}})
		if err != nil {
			t.Fatal(err)
		}
		done := g.wait(t, job.ID, db.StatusSucceeded, db.StatusFailed)
		logs = append(logs, g.log(t, job.ID))
		if done.Status != db.StatusSucceeded {
			t.Fatalf("%s: %+v\n%s", name, done, logs[len(logs)-1])
		}
	}
	gets := func(log string) int { return strings.Count(log, " Get:") }
	if gets(logs[0]) == 0 {
		t.Fatalf("the first build downloaded nothing:\n%s", logs[0])
	}
	if n := gets(logs[1]); n != 0 || !strings.Contains(logs[1], "apt-get update is skipped") {
		t.Errorf("the second build downloaded %d files:\n%s", n, logs[1])
	}
	debs, _ := filepath.Glob(filepath.Join(dir, "*", "archives", "jq_*.deb"))
	if len(debs) != 1 {
		t.Errorf("the cache volume holds %v", debs)
	}
}
