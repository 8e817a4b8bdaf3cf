package kube_test

import (
	"context"
	"strings"
	"testing"
	"time"

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
