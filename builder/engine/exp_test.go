package engine_test

import (
	"context"
	"testing"

	"imagebuilder/builder/engine"
	"imagebuilder/builder/engine/enginetest"
)

func TestExpMounts(t *testing.T) {
	r := enginetest.Get(t)
	base := r.Busybox(t)
	cf := "FROM " + base + "\nRUN --mount=type=cache,id=ibtest,target=/var/cache/ibtest/x,sharing=locked --mount=type=secret,id=s1,mode=0444 [\"/bin/sh\",\"-c\",\"ls -la /run/secrets /run; cat /run/secrets/s1; echo x >> /var/cache/ibtest/x/f; cat /var/cache/ibtest/x/f; cat /proc/self/cgroup; echo $$\"]\n"
	var log syncBuffer
	if _, err := r.Engine.BuildContainerfile(context.Background(), engine.ContainerfileBuild{Containerfile: cf, Target: r.Target.Host + "/exp:1", NoCache: true, Log: &log, Secrets: map[string][]byte{"s1": []byte("MARKER-SECRET\n")}}); err != nil {
		t.Fatal(err, log.String())
	}
	t.Log(log.String())
	res, err := r.Engine.Push(context.Background(), r.Target.Host+"/exp:1", r.Target.Host+"/exp:1", r.Target, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res)
	files := registryFiles(t, r.Target.Host, "exp", "1", "var/cache/ibtest/x", "var/cache/ibtest", "run/secrets/s1", "run/secrets", "var/cache/ibtest/")
	for k := range files {
		t.Log("IN LAYER:", k)
	}
}
