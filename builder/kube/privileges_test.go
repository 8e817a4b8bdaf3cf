package kube_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"imagebuilder/builder/kube"
	"imagebuilder/db"
)

// A build pod that is not privileged (the runtime's default capabilities,
// no seccomp profile set) builds the Debian spec with jq from the host's
// Debian mirror: the worker builds in a user namespace of its own.
func TestAnUnprivilegedBuildPodBuildsTheDebianSpec(t *testing.T) {
	g := newRig(t, 10*time.Minute, func(c *kube.Config) { c.Privileged = false })
	ctx := context.Background()
	_, job, err := g.q.Create(ctx, db.ImageSpec{Name: "kube-unprivileged", BaseImage: g.r.Debian(t), APT: []string{"jq"}})
	if err != nil {
		t.Fatal(err)
	}
	done := g.wait(t, job.ID, db.StatusSucceeded, db.StatusFailed)
	log := g.log(t, job.ID)
	if done.Status != db.StatusSucceeded {
		t.Fatalf("job: %+v\n%s", done, log)
	}
	if !strings.Contains(log, "building in a user namespace of its own") {
		t.Errorf("the log does not say the worker built in a user namespace:\n%s", log)
	}
	kj, err := g.c.Client.BatchV1().Jobs(g.ns).Get(ctx, g.exec.JobName(job.ID), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(kj)
	if strings.Contains(string(b), `"privileged":true`) {
		t.Errorf("the Job asks for a privileged pod:\n%s", b)
	}
	inv, err := g.r.Images.Inventory(ctx, g.r.Target, done.Image+"@"+done.Digest)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range inv.Packages {
		found = found || p.Name == "jq"
	}
	if !found {
		t.Errorf("jq is not in the image's inventory: %+v", inv.Packages)
	}
}
