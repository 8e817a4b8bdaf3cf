package kube_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"imagebuilder/builder/kube"
	"imagebuilder/builder/kube/kubetest"
	"imagebuilder/builder/registry"
	"imagebuilder/db"
	"imagebuilder/db/failure"
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
	inv, err := g.r.Images.Inventory(ctx, g.r.Target, g.r.Target.Host+"/kube-unprivileged@"+done.Digest)
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

// baselineRig is a rig whose namespace enforces Pod Security baseline.
func baselineRig(t *testing.T, change func(*kube.Config)) *rig {
	c := kubetest.Get(t)
	return newRig(t, 10*time.Minute, func(cfg *kube.Config) {
		ctx := context.Background()
		ns, err := c.Client.CoreV1().Namespaces().Get(ctx, cfg.Namespace, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		ns.Labels["pod-security.kubernetes.io/enforce"] = "baseline"
		if _, err := c.Client.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		change(cfg)
	})
}

// A namespace that enforces Pod Security baseline refuses a privileged,
// host-network build pod: the build fails at once with the admission's
// words, not at its timeout after "waiting for its pod".
func TestAPodThatAdmissionRefusesFailsTheBuildWithItsWords(t *testing.T) {
	g := baselineRig(t, func(c *kube.Config) { c.Privileged, c.HostNetwork = true, true })
	_, job, err := g.q.Create(context.Background(), db.ImageSpec{Name: "kube-refused", BaseImage: g.r.Busybox(t)})
	if err != nil {
		t.Fatal(err)
	}
	done := g.wait(t, job.ID, db.StatusFailed, db.StatusSucceeded, db.StatusCancelled)
	text := done.Failure.Text()
	if done.Status != db.StatusFailed || done.Failure.Code() != failure.PodRejected ||
		!strings.Contains(text, `violates PodSecurity "baseline`) || !strings.Contains(text, "privileged") {
		t.Fatalf("job: %+v\n%s", done, g.log(t, job.ID))
	}
	if j, err := g.c.Client.BatchV1().Jobs(g.ns).Get(context.Background(), g.exec.JobName(job.ID), metav1.GetOptions{}); err == nil && j.DeletionTimestamp == nil {
		t.Error("the refused build's Job is still there")
	}
}

// podNetworkRegistry forwards a port on every host address (the pod
// network's gateway, 10.244.0.1, among them) to the test registry, for
// build pods that do not share the host's network; it returns the
// registry as those pods reach it.
func podNetworkRegistry(t *testing.T, r registry.Target) registry.Target {
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	to := r.Host
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer in.Close()
				out, err := net.Dial("tcp", to)
				if err != nil {
					return
				}
				defer out.Close()
				go func() { _, _ = io.Copy(out, in) }()
				_, _ = io.Copy(in, out)
			}()
		}
	}()
	r.Host = "10.244.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	r.Insecure = true
	return r
}

// The goal for privileges: in a namespace that enforces Pod Security
// baseline (no privileged container, no host network, only the default
// capabilities), an unprivileged build pod builds and pushes.
func TestAnUnprivilegedBuildPodBuildsUnderPodSecurityBaseline(t *testing.T) {
	g := baselineRig(t, func(c *kube.Config) { c.Privileged, c.HostNetwork = false, false })
	g.reg = podNetworkRegistry(t, g.r.Target)
	base := aptBase(t, g.r, "apt-baseline", "#!/bin/sh\necho \"installing $*\"\necho installed\n")
	base = strings.Replace(base, g.r.Target.Host, g.reg.Host, 1)
	_, job, err := g.q.Create(context.Background(), db.ImageSpec{Name: "kube-baseline", BaseImage: base, APT: []string{"jq"}})
	if err != nil {
		t.Fatal(err)
	}
	done := g.wait(t, job.ID, db.StatusSucceeded, db.StatusFailed, db.StatusCancelled)
	log := g.log(t, job.ID)
	if done.Status != db.StatusSucceeded || !strings.Contains(log, "installing") {
		t.Fatalf("job: %+v\n%s", done, log)
	}
	if got := manifestDigest(t, g.r.Target.Host, "kube-baseline", "1"); got != done.Digest {
		t.Errorf("the registry's kube-baseline:1 is %q, the job says %s", got, done.Digest)
	}
}
