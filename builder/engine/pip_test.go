package engine_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"imagebuilder/builder/engine"
	"imagebuilder/builder/engine/enginetest"
	"imagebuilder/builder/logs/logstest"
	"imagebuilder/builder/spec"
	"imagebuilder/builder/spec/spectest"
	"imagebuilder/db"
)

// The test index's wheels: a package in two versions, one that depends on
// another, and two whose requirements conflict.
var testWheels = []spectest.Wheel{
	{Name: "alpha", Version: "1.0"},
	{Name: "alpha", Version: "2.0"},
	{Name: "beta", Version: "1.0", Requires: []string{"gamma>=1.0"}},
	{Name: "gamma", Version: "0.9"},
	{Name: "gamma", Version: "1.0"},
	{Name: "clash-a", Version: "1.0", Requires: []string{"gamma<1.0"}},
	{Name: "clash-b", Version: "1.0", Requires: []string{"gamma>=1.0"}},
}

// Pip installs from a private PEP 503 index for real: the newest allowed
// version and a dependency are installed into the image's Python, the
// index's password never reaches a layer, the image's history or the log,
// and the wheels stay in the Pip cache (not the image) for the next build.
func TestPipInstallsFromPrivateIndexWithoutLeakingItsPassword(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads Debian packages")
	}
	const marker = "Pw-MARKER-7f3a9c"
	ix := spectest.ServePyIndex(t, "builder", marker, testWheels...)
	r := enginetest.Get(t)
	sources := spec.Sources{PipIndexURL: ix.AuthURL(), PipTrustedHosts: []string{strings.TrimPrefix(strings.TrimSuffix(ix.URL, "/simple"), "http://")}}
	if errs := sources.Check(); len(errs) > 0 {
		t.Fatal(errs)
	}
	s := db.ImageSpec{Name: "pip-private", BaseImage: r.Debian(t), APT: []string{"python3-pip"}, Pip: []string{"alpha", "beta"}}
	var log logstest.Buffer
	if _, err := r.Engine.Build(context.Background(), engine.BuildRequest{Spec: s, Tag: "1", Registry: r.Target, Log: &log, Sources: sources}); err != nil {
		t.Fatalf("build: %v\n%s", err, log.String())
	}
	config, layers := imageBlobs(t, r.Target.Host, "pip-private", "1")
	all := bytes.Join(append(layers, config), nil)
	for _, want := range []string{"alpha-2.0.dist-info/METADATA", "beta-1.0.dist-info/METADATA", "gamma-1.0.dist-info/METADATA", "alpha/__init__.py"} {
		if !bytes.Contains(all, []byte(want)) {
			t.Errorf("the image has no %s", want)
		}
	}
	for _, not := range []string{"alpha-1.0.dist-info", "gamma-0.9.dist-info"} {
		if bytes.Contains(all, []byte(not)) {
			t.Errorf("the image has %s: pip did not pick the newest allowed version", not)
		}
	}
	if bytes.Contains(all, []byte(marker)) {
		t.Error("the index password is in the image (a layer or its config/history)")
	}
	if bytes.Contains(all, []byte(spec.CacheDir)) && bytes.Contains(all, []byte("http-v2")) {
		t.Error("the Pip cache reached a layer")
	}
	out := log.String()
	if strings.Contains(out, marker) {
		t.Errorf("the index password is in the log:\n%s", out)
	}
	if !strings.Contains(out, "Successfully installed") || !strings.Contains(out, "package sources: pip index http://builder:****@") {
		t.Errorf("the log does not show the install and the masked sources:\n%s", out)
	}
	var pipCache int64
	for _, c := range r.Engine.Caches() {
		if c.ID == spec.CachePip {
			pipCache = c.Bytes
		}
	}
	if pipCache == 0 {
		t.Error("the Pip cache is empty after a build that downloaded wheels")
	}
}
