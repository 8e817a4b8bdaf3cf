package engine_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"imagebuilder/builder/engine"
	"imagebuilder/builder/engine/enginetest"
	"imagebuilder/builder/executor"
	"imagebuilder/builder/logs/logstest"
	"imagebuilder/builder/spec"
	"imagebuilder/builder/spec/spectest"
	"imagebuilder/db"
)

func TestMain(m *testing.M) { enginetest.Main(m) }

// registryGet reads path under /v2/<name> from the registry at host.
func registryGet(t *testing.T, host, name, path, accept string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+host+"/v2/"+name+path, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s: %s", path, resp.Status, body)
	}
	return body
}

// imageBlobs fetches an image's config and every layer (uncompressed tar)
// from the registry.
func imageBlobs(t *testing.T, host, name, tag string) (config []byte, layers [][]byte) {
	t.Helper()
	var m struct {
		Config struct{ Digest string }   `json:"config"`
		Layers []struct{ Digest string } `json:"layers"`
	}
	if err := json.Unmarshal(registryGet(t, host, name, "/manifests/"+tag, "application/vnd.oci.image.manifest.v1+json"), &m); err != nil {
		t.Fatal(err)
	}
	config = registryGet(t, host, name, "/blobs/"+m.Config.Digest, "")
	for _, l := range m.Layers {
		zr, err := gzip.NewReader(bytes.NewReader(registryGet(t, host, name, "/blobs/"+l.Digest, "")))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, raw)
	}
	return config, layers
}

// registryFiles pulls image name:tag back through the registry API and
// returns the content of the wanted paths found in its layers (upper layers
// win).
func registryFiles(t *testing.T, host, name, tag string, want ...string) map[string][]byte {
	t.Helper()
	_, layers := imageBlobs(t, host, name, tag)
	found := map[string][]byte{}
	for _, l := range layers {
		tr := tar.NewReader(bytes.NewReader(l))
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			p := strings.TrimPrefix(h.Name, "./")
			for _, w := range want {
				if p == w {
					body, _ := io.ReadAll(tr)
					found[w] = body
				}
			}
		}
	}
	return found
}

func TestBuildBusyboxSpecPushesToRegistry(t *testing.T) {
	r := enginetest.Get(t)
	base := r.Busybox(t)
	var log logstest.Buffer
	res, err := r.Engine.Build(context.Background(), engine.BuildRequest{
		Spec: db.ImageSpec{Name: "tiny", BaseImage: base}, Tag: "1", Registry: r.Target, Log: &log,
	})
	if err != nil {
		t.Fatalf("build: %v\n%s", err, log.String())
	}
	if res.Image != r.Target.Host+"/tiny:1" || !strings.HasPrefix(res.Digest, "sha256:") || res.Size < 100_000 {
		t.Fatalf("unexpected result %+v", res)
	}
	files := registryFiles(t, r.Target.Host, "tiny", "1", "bin/busybox")
	if len(files["bin/busybox"]) < 100_000 {
		t.Fatal("the pushed image does not hold bin/busybox")
	}
	if !strings.Contains(log.String(), "Image Builder: pushed "+res.Image+"@"+res.Digest) {
		t.Errorf("log does not report the push:\n%s", log.String())
	}
}

func TestBuildFailsClearlyWhenBaseLacksPackageManager(t *testing.T) {
	r := enginetest.Get(t)
	base := r.Busybox(t)
	for _, tc := range []struct {
		spec db.ImageSpec
		want string
	}{
		{db.ImageSpec{Name: "noapt", BaseImage: base, APT: []string{"jq"}}, "the base image has no apt-get"},
		{db.ImageSpec{Name: "noconda", BaseImage: base, Conda: []string{"conda-forge::numpy==1.17*"}}, "the base image has no conda, mamba or micromamba"},
		{db.ImageSpec{Name: "nopip", BaseImage: base, Pip: []string{"requests"}}, "the base image has no pip"},
	} {
		var log logstest.Buffer
		_, err := r.Engine.Build(context.Background(), engine.BuildRequest{Spec: tc.spec, Tag: "1", Registry: r.Target, Log: &log})
		if err == nil {
			t.Errorf("%s: build succeeded", tc.spec.Name)
			continue
		}
		if !strings.Contains(log.String(), tc.want) {
			t.Errorf("%s: log lacks %q:\n%s", tc.spec.Name, tc.want, log.String())
		}
	}
}

// Hostile lines that slipped past validation still reach the package manager
// as single arguments: a stand-in apt-get records its argv, and no shell code
// in them runs.
func TestHostileLinesNeverRunAsShell(t *testing.T) {
	r := enginetest.Get(t)
	base := r.Busybox(t)
	recorder := "FROM " + base + "\n" +
		`RUN ["/bin/sh","-c","mkdir -p /usr/bin && printf '#!/bin/sh\\nfor a in \"$@\"; do echo \"[$a]\"; done >> /args\\n' > /usr/bin/apt-get && chmod +x /usr/bin/apt-get"]` + "\n"
	var log logstest.Buffer
	if _, err := r.Engine.BuildContainerfile(context.Background(), engine.ContainerfileBuild{Containerfile: recorder, Target: r.Target.Host + "/recorder:1", Log: &log}); err != nil {
		t.Fatalf("recorder image: %v\n%s", err, log.String())
	}
	if _, err := r.Engine.Push(context.Background(), r.Target.Host+"/recorder:1", r.Target.Host+"/recorder:1", r.Target, nil); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range spectest.HostileLines {
		if !strings.ContainsAny(l, "\n\r\x00#") && strings.TrimSpace(l) == l {
			lines = append(lines, l)
		}
	}
	cf := spec.Render(db.ImageSpec{Name: "hostile", BaseImage: r.Target.Host + "/recorder:1", APT: lines})
	if _, err := r.Engine.BuildContainerfile(context.Background(), engine.ContainerfileBuild{Containerfile: cf, Target: r.Target.Host + "/hostile:1", Log: &log}); err != nil {
		t.Fatalf("hostile build: %v\n%s", err, log.String())
	}
	if _, err := r.Engine.Push(context.Background(), r.Target.Host+"/hostile:1", r.Target.Host+"/hostile:1", r.Target, nil); err != nil {
		t.Fatal(err)
	}
	files := registryFiles(t, r.Target.Host, "hostile", "1", "args", "pwned")
	if _, ok := files["pwned"]; ok {
		t.Fatal("a hostile line ran as shell code: /pwned exists")
	}
	// apt-get is called for "update" (unless the cached lists are fresh)
	// and "install -y --no-install-recommends <pkgs>", each time after the
	// options that keep its lists and archives in the cache mount, and
	// never "clean" (which would empty the cache).
	opts := "[-o]\n[Dir::Cache::Archives=/var/cache/imagebuilder/apt/archives/]\n"
	install := opts + "[-o]\n[Dir::State::Lists=/var/cache/imagebuilder/apt/lists/]\n"
	want := "[install]\n[-y]\n[--no-install-recommends]\n"
	for _, l := range lines {
		want += "[" + l + "]\n"
	}
	got := string(files["args"])
	if !strings.HasSuffix(got, want) || !strings.HasPrefix(got, install) || strings.Contains(got, "[clean]") {
		t.Fatalf("apt-get received\n%s\nwant it to start with\n%s\nand end with\n%s", got, install, want)
	}
}

func TestBuildDebianAPTThenPipOnlyChangeReusesAPTLayer(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads Debian packages")
	}
	r := enginetest.Get(t)
	base := r.Debian(t)
	spec := db.ImageSpec{Name: "debian-tools", BaseImage: base,
		APT: []string{"jq", "python3-pip"},
		// Satisfied by Debian's python3-setuptools: no index needed, but pip
		// must run under PEP 668's externally-managed Python.
		Pip: []string{"setuptools"}}
	var log1 logstest.Buffer
	res1, err := r.Engine.Build(context.Background(), engine.BuildRequest{Spec: spec, Tag: "1", Registry: r.Target, Log: &log1})
	if err != nil {
		t.Fatalf("revision 1: %v\n%s", err, log1.String())
	}
	files := registryFiles(t, r.Target.Host, "debian-tools", "1", "usr/bin/jq", "var/lib/dpkg/status")
	if len(files["usr/bin/jq"]) == 0 {
		t.Error("usr/bin/jq is not in the pushed image")
	}
	if !bytes.Contains(files["var/lib/dpkg/status"], []byte("Package: jq\nStatus: install ok installed")) {
		t.Error("the dpkg status of the pushed image does not list jq as installed")
	}
	if !strings.Contains(log1.String(), "Requirement already satisfied: setuptools") {
		t.Errorf("pip did not run:\n%s", log1.String())
	}
	// APT's downloads stay in its cache, not in the image.
	_, layers := imageBlobs(t, r.Target.Host, "debian-tools", "1")
	for i, l := range layers {
		tr := tar.NewReader(bytes.NewReader(l))
		for h, err := tr.Next(); err == nil; h, err = tr.Next() {
			if strings.Contains(h.Name, "var/cache/imagebuilder") || strings.HasSuffix(h.Name, ".deb") || strings.Contains(h.Name, "var/lib/apt/lists/deb.") {
				t.Errorf("layer %d holds %s: the package cache reached the image", i, h.Name)
			}
		}
	}
	for _, c := range r.Engine.Caches() {
		if c.ID == "imagebuilder-apt" && c.Files < 3 {
			t.Errorf("the APT cache holds %d files after a build that downloaded packages", c.Files)
		}
	}

	spec.Pip = []string{"wheel>=0.30"}
	var log2 logstest.Buffer
	res2, err := r.Engine.Build(context.Background(), engine.BuildRequest{Spec: spec, Tag: "2", Registry: r.Target, Log: &log2})
	if err != nil {
		t.Fatalf("revision 2: %v\n%s", err, log2.String())
	}
	out := log2.String()
	aptStep := strings.Index(out, `"apt","jq","python3-pip"]`)
	pipStep := strings.Index(out, `"pip","wheel>=0.30"]`)
	if aptStep < 0 || pipStep < 0 {
		t.Fatalf("steps missing from the log:\n%s", out)
	}
	if !strings.Contains(out[aptStep:pipStep], "Using cache") {
		t.Errorf("the APT step was not taken from cache:\n%s", out)
	}
	if strings.Contains(out[pipStep:], "Using cache") {
		t.Errorf("the changed Pip step was taken from cache:\n%s", out)
	}
	if strings.Contains(out, "Setting up jq") {
		t.Error("jq was installed again")
	}
	if res1.Digest == res2.Digest {
		t.Error("revisions 1 and 2 have the same digest")
	}
}

// A build that fails while another runs cleans up its own containers only;
// the running one is then cancelled, stops quickly and leaves nothing.
func TestCancelledBuildStopsQuicklyAndLeavesNothingMounted(t *testing.T) {
	r := enginetest.Get(t)
	base := r.Busybox(t)
	cf := "FROM " + base + "\nRUN [\"/bin/sh\",\"-c\",\"echo started; sleep 120\"]\n"
	ctx, cancel := context.WithCancelCause(context.Background())
	var log logstest.Buffer
	done := make(chan error, 1)
	go func() {
		_, err := r.Engine.BuildContainerfile(ctx, engine.ContainerfileBuild{Containerfile: cf, Target: r.Target.Host + "/sleepy:1", NoCache: true, Log: &log})
		done <- err
	}()
	logstest.WaitFor(t, "started", time.Minute, &log)
	running := func() []string {
		ctrs, err := r.Engine.Store().Containers()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, c := range ctrs {
			names = append(names, c.Names...)
		}
		return names
	}
	before := running()
	if len(before) != 1 {
		t.Fatalf("containers while one build runs: %v", before)
	}
	failing := "FROM " + base + "\nRUN [\"/bin/sh\",\"-c\",\"exit 3\"]\n"
	if _, err := r.Engine.BuildContainerfile(context.Background(), engine.ContainerfileBuild{Containerfile: failing, Target: r.Target.Host + "/failing:1", NoCache: true, Log: io.Discard}); err == nil {
		t.Fatal("the failing build succeeded")
	}
	if after := running(); len(after) != 1 || after[0] != before[0] {
		t.Fatalf("the failed build's clean-up touched the running build: %v, then %v", before, after)
	}
	select {
	case err := <-done:
		t.Fatalf("the running build ended when another failed: %v", err)
	default:
	}
	cancel(errors.New("cancelled by test"))
	select {
	case err := <-done:
		if !errors.Is(err, executor.ErrCancelled) {
			t.Fatalf("want executor.ErrCancelled, got %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the cancelled build did not stop within 30s")
	}
	ctrs, err := r.Engine.Store().Containers()
	if err != nil {
		t.Fatal(err)
	}
	if len(ctrs) != 0 {
		t.Errorf("%d build containers left behind", len(ctrs))
	}
	// Neither the failed nor the cancelled build left a mount, a scratch
	// entry or a build context directory.
	if left := r.Leftovers(t); len(left) > 0 {
		t.Errorf("builds left:\n%s", strings.Join(left, "\n"))
	}
}

// Conda lines reach conda as one argument each, after the Conda check
// found it, with "install -y -n base"; the administrator's channels follow
// as "-c <channel>" (read from a secret file, so a channel's token is in
// no layer or log) with --override-channels when asked. No conda binary or
// channel can be reached here, so the base image's conda is a stand-in
// that records its arguments.
func TestCondaLinesReachCondaAsArguments(t *testing.T) {
	r := enginetest.Get(t)
	stand := "FROM " + r.Busybox(t) + "\n" +
		`RUN ["/bin/sh","-c","mkdir -p /opt/conda/bin && printf '#!/bin/sh\\necho conda $1 >> /conda-calls\\nfor a in \"$@\"; do echo \"[$a]\"; done >> /conda-args\\n' > /opt/conda/bin/conda && chmod +x /opt/conda/bin/conda && ln -s /opt/conda/bin/conda /bin/conda"]` + "\n"
	base := r.Derived(t, stand, r.Target.Host+"/library/fake-conda:1")
	lines := []string{"conda-forge::numpy==1.17*", "scipy[version='>=1.9',build=py311*]", "defaults/linux-64::pandas 2.2 py311_0"}
	var log logstest.Buffer
	res, err := r.Engine.Build(context.Background(), engine.BuildRequest{
		Spec: db.ImageSpec{Name: "conda-demo", BaseImage: base, Conda: lines}, Tag: "1", Registry: r.Target, Log: &log})
	if err != nil {
		t.Fatalf("build: %v\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "Image Builder: Conda packages will be installed with conda") {
		t.Errorf("the Conda check did not find conda:\n%s", log.String())
	}
	files := registryFiles(t, r.Target.Host, "conda-demo", "1", "conda-args", "conda-calls")
	want := "[install]\n[-y]\n[-n]\n[base]\n"
	for _, l := range lines {
		want += "[" + l + "]\n"
	}
	if got := string(files["conda-args"]); got != want {
		t.Fatalf("conda received\n%s\nwant\n%s", got, want)
	}
	if res.Digest == "" {
		t.Fatal("no digest")
	}

	const token = "tok-MARKER-5521"
	channels := spec.Sources{CondaChannels: []string{"conda-forge", "https://conda.example.com/t/" + token + "/main"}, CondaOverride: true}
	var log2 logstest.Buffer
	if _, err := r.Engine.Build(context.Background(), engine.BuildRequest{Spec: db.ImageSpec{Name: "conda-demo", BaseImage: base, Conda: lines[:1]},
		Tag: "2", Registry: r.Target, Log: &log2, Sources: channels}); err != nil {
		t.Fatalf("build with channels: %v\n%s", err, log2.String())
	}
	files = registryFiles(t, r.Target.Host, "conda-demo", "2", "conda-args")
	want = "[install]\n[-y]\n[-n]\n[base]\n[--override-channels]\n[" + lines[0] + "]\n[-c]\n[conda-forge]\n[-c]\n[https://conda.example.com/t/" + token + "/main]\n"
	if got := string(files["conda-args"]); got != want {
		t.Fatalf("conda received\n%s\nwant\n%s", got, want)
	}
	config, _ := imageBlobs(t, r.Target.Host, "conda-demo", "2")
	if bytes.Contains(config, []byte(token)) || strings.Contains(log2.String(), token) {
		t.Error("the channel token is in the image's history or the log")
	}
}

// Two APT builds at once share the package cache: one waits for the
// other (the cache is held per build) and both succeed; clearing the
// caches is refused while they run.
func TestTwoBuildsAtOnceShareTheAPTCache(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads Debian packages")
	}
	r := enginetest.Get(t)
	base := r.Debian(t)
	errs := make(chan error, 2)
	logs := []*logstest.Buffer{{}, {}}
	for i, pkg := range []string{"tree", "less"} {
		go func() {
			_, err := r.Engine.Build(context.Background(), engine.BuildRequest{Spec: db.ImageSpec{Name: "together-" + pkg, BaseImage: base, APT: []string{pkg}},
				Tag: "1", Registry: r.Target, Log: logs[i], NoCache: true})
			errs <- err
		}()
	}
	logstest.WaitFor(t, "STEP 2/2", time.Minute, logs...) // one build reached its APT step
	if err := r.Engine.ClearCaches(); !errors.Is(err, executor.ErrBuildsRunning) {
		t.Errorf("clearing the caches while builds run: %v", err)
	}
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			t.Errorf("build: %v\n%s\n%s", err, logs[0].String(), logs[1].String())
		}
	}
	for i, pkg := range []string{"tree", "less"} {
		if !strings.Contains(logs[i].String(), "Setting up "+pkg) {
			t.Errorf("%s was not installed:\n%s", pkg, logs[i].String())
		}
	}
	if !strings.Contains(logs[0].String()+logs[1].String(), "waiting for the package cache "+spec.CacheAPT) {
		t.Errorf("neither build said it waited for the other:\n%s\n%s", logs[0].String(), logs[1].String())
	}
	if err := r.Engine.ClearCaches(); err != nil {
		t.Fatalf("clearing the caches once the builds are done: %v", err)
	}
	for _, c := range r.Engine.Caches() {
		if c.Files != 0 {
			t.Errorf("%s holds %d files after Clear", c.ID, c.Files)
		}
	}
}

// A build waiting for a package cache another build holds ends at its
// deadline, saying what it waited for; once the holder is cancelled the
// cache is free at once, however often that happens.
func TestWaitForAPackageCacheEndsAtTheDeadlineAndACancelledHolderFreesIt(t *testing.T) {
	defer engine.SetCacheWaitNote(500 * time.Millisecond)()
	r := enginetest.Get(t)
	base := r.Busybox(t)
	holder := "FROM " + base + "\nRUN --mount=type=cache,id=" + spec.CacheAPT + ",target=/c [\"/bin/sh\",\"-c\",\"echo holding; sleep 120\"]\n"
	quick := "FROM " + base + "\nRUN --mount=type=cache,id=" + spec.CacheAPT + ",target=/c [\"/bin/sh\",\"-c\",\"echo quick\"]\n"
	for round := 0; round < 3; round++ {
		ctx, cancel := context.WithCancelCause(context.Background())
		var log logstest.Buffer
		done := make(chan error, 1)
		go func() {
			_, err := r.Engine.BuildContainerfile(ctx, engine.ContainerfileBuild{Containerfile: holder, Target: r.Target.Host + "/holder:1", NoCache: true, Log: &log})
			done <- err
		}()
		logstest.WaitFor(t, "holding", time.Minute, &log)
		waiting, stop := context.WithTimeout(context.Background(), 2*time.Second)
		var wlog logstest.Buffer
		start := time.Now()
		_, err := r.Engine.BuildContainerfile(waiting, engine.ContainerfileBuild{Containerfile: quick, Target: r.Target.Host + "/quick:1", NoCache: true, Log: &wlog})
		stop()
		if !errors.Is(err, executor.ErrCancelled) || time.Since(start) > 20*time.Second {
			t.Fatalf("round %d: the waiting build ended after %s with %v", round, time.Since(start), err)
		}
		if !strings.Contains(wlog.String(), "waiting for the package cache "+spec.CacheAPT) || !strings.Contains(wlog.String(), "still waiting for the package cache") {
			t.Errorf("round %d: the waiting build did not say why, now and then:\n%s", round, wlog.String())
		}
		cancel(errors.New("cancelled by test"))
		if err := <-done; !errors.Is(err, executor.ErrCancelled) {
			t.Fatalf("round %d: the holder ended with %v", round, err)
		}
		after, stop := context.WithTimeout(context.Background(), time.Minute)
		var alog logstest.Buffer
		if _, err := r.Engine.BuildContainerfile(after, engine.ContainerfileBuild{Containerfile: quick, Target: r.Target.Host + "/quick:1", NoCache: true, Log: &alog}); err != nil {
			t.Fatalf("round %d: after the holder was cancelled: %v\n%s", round, err, alog.String())
		}
		stop()
		if strings.Contains(alog.String(), "waiting for the package cache") {
			t.Errorf("round %d: the cancelled holder still held the cache:\n%s", round, alog.String())
		}
	}
}

// Every step's last lines reach the log, a failing step's too, though
// Buildah's chroot runner exits as soon as a step does (package
// stepexit): each step writes more than a pipe holds and ends right after
// its last lines, while the machine is busy.
func TestEveryStepsLastLinesReachTheLog(t *testing.T) {
	r := enginetest.Get(t)
	base := r.Busybox(t)
	stop := make(chan struct{})
	defer close(stop)
	for i := 0; i < 2; i++ { // both cores busy: the relay runs late
		go func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
			}
		}()
	}
	const rounds = 5
	for round := 1; round <= rounds; round++ {
		cf := "FROM " + base + "\n"
		for _, step := range []string{"ok", "failing"} {
			exit := ""
			if step == "failing" {
				exit = "; exit 7"
			}
			cf += fmt.Sprintf("RUN [\"/bin/sh\",\"-c\",\"seq 1 30000; echo %[1]s-%[2]d-out; seq 1 30000 >&2; echo %[1]s-%[2]d-err >&2%[3]s\"]\n", step, round, exit)
		}
		var log logstest.Buffer
		_, err := r.Engine.BuildContainerfile(context.Background(), engine.ContainerfileBuild{Containerfile: cf, Target: r.Target.Host + "/last-lines:1", NoCache: true, Log: &log})
		if err == nil {
			t.Fatalf("the failing step succeeded:\n%s", cf)
		}
		var lost []string
		for _, step := range []string{"ok", "failing"} {
			for _, stream := range []string{"out", "err"} {
				if want := fmt.Sprintf("%s-%d-%s\n", step, round, stream); !strings.Contains(log.String(), want) {
					lost = append(lost, strings.TrimSpace(want))
				}
			}
		}
		if len(lost) > 0 {
			t.Fatalf("round %d of %d lost %v", round, rounds, lost)
		}
		// A build without limits is told so by the engine, not warned.
		if strings.Contains(log.String(), "without the build's limits") {
			t.Fatalf("a build without limits warns that it has none:\n%s", log.String())
		}
		// The step's parent saw its relay go back to polling.
		if strings.Contains(log.String(), "last lines may be lost") {
			t.Fatalf("the step could not see its relay:\n%s", log.String())
		}
	}
}
