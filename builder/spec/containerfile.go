package spec

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"imagebuilder/db/imagespec"
)

// The package managers' steps. Each is a fixed shell script run as
//
//	RUN ["/bin/sh", "-c", script, "<manager>", pkg1, pkg2, ...]
//
// so the packages arrive as "$@": separate argv entries that no shell ever
// parses. Whatever a line contains, it cannot become shell code; validation
// additionally rejects lines that would be read as options.
const (
	// CacheDir holds the package managers' caches while a step runs: a
	// cache mount (RUN --mount=type=cache) kept on the build host between
	// builds, never part of a layer.
	CacheDir = "/var/cache/imagebuilder"

	// APT's downloaded archives and package lists live in the cache
	// mount, not in the image: the image's own /var/lib/apt/lists stays as
	// the base had it, and nothing APT downloads reaches a layer. (Debian's
	// container images delete /var/cache/apt/archives/*.deb after every
	// dpkg run; the cache lives elsewhere.) An extra source is a file of
	// sources.list.d for the step's lifetime only.
	aptScript = `set -eu; ` +
		`if ! command -v apt-get >/dev/null 2>&1; then echo "Image Builder: the base image has no apt-get, so APT packages cannot be installed; choose a Debian or Ubuntu based image or remove the APT packages." >&2; exit 1; fi; ` +
		`export DEBIAN_FRONTEND=noninteractive; ` +
		`c=` + CacheDir + `/apt; mkdir -p $c/archives/partial $c/lists/partial; ` +
		`o="-o Dir::Cache::Archives=$c/archives/ -o Dir::State::Lists=$c/lists/ -o APT::Keep-Downloaded-Packages=true -o Dir::Cache::srcpkgcache=$c/srcpkgcache.bin -o Dir::Cache::pkgcache=$c/pkgcache.bin"; ` +
		`x=/etc/apt/sources.list.d/imagebuilder-extra.list; ` +
		`if [ -f /run/secrets/` + SecretAPTList + ` ]; then cp /run/secrets/` + SecretAPTList + ` $x; trap 'rm -f '$x EXIT; fi; ` +
		`h=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null | sha256sum | cut -c1-16); ` +
		`if [ -n "$(find $c/fresh-$h -mmin -` + aptListsFresh + ` 2>/dev/null)" ]; then ` +
		`echo "Image Builder: the cached APT lists for these sources are less than ` + aptListsFresh + ` minutes old; apt-get update is skipped"; ` +
		`apt-get $o install -y --no-install-recommends "$@" || { echo "Image Builder: retrying with fresh APT lists"; rm -f $c/fresh-*; apt-get $o update; : > $c/fresh-$h; apt-get $o install -y --no-install-recommends "$@"; }; ` +
		`else rm -f $c/fresh-*; apt-get $o update; : > $c/fresh-$h; apt-get $o install -y --no-install-recommends "$@"; fi; ` +
		`rm -f /var/cache/apt/*.bin`

	condaDetect = `if command -v micromamba >/dev/null 2>&1; then c=micromamba; ` +
		`elif command -v mamba >/dev/null 2>&1; then c=mamba; ` +
		`elif command -v conda >/dev/null 2>&1; then c=conda; ` +
		`else echo "Image Builder: the base image has no conda, mamba or micromamba, so Conda packages cannot be installed; choose a conda-based image or remove the Conda packages." >&2; exit 1; fi`

	condaPreflight = `set -eu; ` + condaDetect + `; echo "Image Builder: Conda packages will be installed with $c"`

	// Channels come from a secret file (a channel URL may hold a token),
	// one per line, each as "-c <channel>". Packages are kept in the cache
	// mount (CONDA_PKGS_DIRS), so nothing needs cleaning in the image.
	condaScript = `set -eu; ` + condaDetect + `; ` +
		`f=/run/secrets/` + SecretCondaChannels + `; ` +
		`if [ -f $f ]; then while IFS= read -r ch; do [ -z "$ch" ] || set -- "$@" -c "$ch"; done < $f; fi; ` +
		`export CONDA_PKGS_DIRS=` + CacheDir + `/conda; ` +
		`"$c" install -y -n base%s "$@"`

	// PEP 668: Debian marks its Python "externally managed". Image Builder
	// installs Pip packages into the image's system Python (pip puts them
	// under /usr/local, away from Debian's own files) by setting
	// PIP_BREAK_SYSTEM_PACKAGES=1, which older pip versions simply ignore.
	// A container image is the environment, so a venv would only hide the
	// packages from the plain python3 the users run. The index settings
	// come from a secret pip.conf; wheels are cached in the cache mount.
	pipScript = `set -eu; ` +
		`if command -v pip3 >/dev/null 2>&1; then set -- pip3 install "$@"; ` +
		`elif command -v pip >/dev/null 2>&1; then set -- pip install "$@"; ` +
		`elif command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then set -- python3 -m pip install "$@"; ` +
		`else echo "Image Builder: the base image has no pip, so Pip packages cannot be installed; add python3-pip to the APT packages or choose a Python image." >&2; exit 1; fi; ` +
		`if [ -f /run/secrets/` + SecretPipConf + ` ]; then export PIP_CONFIG_FILE=/run/secrets/` + SecretPipConf + `; fi; ` +
		`PIP_BREAK_SYSTEM_PACKAGES=1 PIP_CACHE_DIR=` + CacheDir + `/pip PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore "$@"`
)

// aptListsFresh is how many minutes cached APT lists are used without
// apt-get update (for the same sources; another base's update, which
// replaces the lists, makes them stale). An install that fails on them is
// retried once after an update, so a package the mirror changed meanwhile
// costs a retry, not a failure.
const aptListsFresh = "10"

// Cache mount ids, one per package manager; the build host keeps each.
const (
	CacheAPT   = "imagebuilder-apt"
	CacheConda = "imagebuilder-conda"
	CachePip   = "imagebuilder-pip"
)

// ExclusiveCaches are the caches one build at a time may use: APT and
// Conda take their own locks inside them, and a second build would fail
// on those. The Containerfile mounts every cache shared; the engine runs
// the builds that mount one of these one after the other, with a wait
// that a cancel or a timeout ends. (Buildah's sharing=locked takes an
// in-process lock nothing can interrupt: one build that left it held made
// every later APT build wait for ever, past its timeout.)
var ExclusiveCaches = []string{CacheAPT, CacheConda}

var cacheMountRE = regexp.MustCompile(`--mount=type=cache,id=([^,\s"]+)`)

// CachesMounted are the ids of the cache mounts a Containerfile's RUN
// steps use, each once.
func CachesMounted(containerfile string) []string {
	var ids []string
	for _, m := range cacheMountRE.FindAllStringSubmatch(containerfile, -1) {
		if !slices.Contains(ids, m[1]) {
			ids = append(ids, m[1])
		}
	}
	return ids
}

// Options are what an administrator set for every build and that the
// Containerfile must show: the package sources (credentials are never
// written; only which secret files a step mounts and a fingerprint of the
// sources without credentials, so a changed source re-runs its step).
type Options struct {
	Sources Sources
	// PreviousAPT are the APT steps (package lines per step) of the spec's
	// last succeeded build on the same base image; see PlanAPT.
	PreviousAPT [][]string
}

// MaxAPTSteps bounds how many APT steps PlanAPT stacks before it starts
// again from one.
const MaxAPTSteps = 4

// PlanAPT splits a spec's APT lines into steps. When the lines only add
// to what the previous build installed, the previous steps are kept as
// they were (the build takes their layers from its cache) and one step
// installs the added lines: adding one package costs that package, not
// the whole list again, and only the new layer is pushed. Any other change
// (a line removed or edited, or MaxAPTSteps reached) starts again from
// one step. The installed set is the same either way.
func PlanAPT(previous [][]string, lines []string) [][]string {
	if len(lines) == 0 {
		return nil
	}
	want := map[string]bool{}
	for _, l := range lines {
		want[l] = true
	}
	had := map[string]bool{}
	for _, step := range previous {
		for _, l := range step {
			if !want[l] {
				return [][]string{lines} // removed or edited
			}
			had[l] = true
		}
	}
	var added []string
	for _, l := range lines {
		if !had[l] {
			added = append(added, l)
			had[l] = true
		}
	}
	switch {
	case len(previous) == 0:
		return [][]string{lines}
	case len(added) == 0:
		return previous
	case len(previous) >= MaxAPTSteps:
		return [][]string{lines}
	}
	return append(append([][]string{}, previous...), added)
}

// APTSteps are the APT steps Render writes for spec with opts.
func APTSteps(spec imagespec.Spec, opts Options) [][]string {
	return PlanAPT(opts.PreviousAPT, packageTexts(spec.APT))
}

// Containerfile renders the build instructions for spec. It validates spec
// first and returns a ValidationError if anything is wrong. The output is
// deterministic and ordered for cache reuse: base, (conda check), APT,
// Conda, Pip; each package manager is one layer that cleans its caches, so
// changing only the Pip list reuses the APT and Conda layers.
func Containerfile(spec imagespec.Spec) (string, error) {
	if err := Validate(spec); err != nil {
		return "", err
	}
	return Render(spec), nil
}

// ContainerfileWith is Containerfile with the administrator's options.
func ContainerfileWith(spec imagespec.Spec, opts Options) (string, error) {
	if err := Validate(spec); err != nil {
		return "", err
	}
	return RenderWith(spec, opts), nil
}

// Render writes the Containerfile of spec without validating it (see
// Containerfile); tests use it to show that even an unvalidated line
// reaches its package manager as one argument.
func Render(spec imagespec.Spec) string { return RenderWith(spec, Options{}) }

// RenderWith is Render with the administrator's options.
func RenderWith(spec imagespec.Spec, opts Options) string {
	src := opts.Sources
	var b strings.Builder
	b.WriteString("# Image Builder spec " + spec.Name + "\n")
	b.WriteString("FROM " + spec.BaseImage + "\n")
	apt, conda, pip := packageTexts(spec.APT), packageTexts(spec.Conda), packageTexts(spec.Pip)
	if len(conda) > 0 {
		// Fail before the APT step, not after minutes of it.
		writeRun(&b, nil, condaPreflight, "conda-check", nil)
	}
	if len(apt) > 0 {
		mounts := []string{cacheMount(CacheAPT, "apt")}
		if src.aptSet() {
			mounts = append(mounts, secretMount(SecretAPTList, ""))
			if src.APTKey != "" {
				mounts = append(mounts, secretMount(SecretAPTKey, "0444")) // apt reads it as _apt
			}
		}
		for _, step := range PlanAPT(opts.PreviousAPT, apt) {
			writeRun(&b, mounts, withFingerprint(aptScript, src.aptFingerprint()), "apt", step)
		}
	}
	if len(conda) > 0 {
		mounts := []string{cacheMount(CacheConda, "conda")}
		if len(src.CondaChannels) > 0 {
			mounts = append(mounts, secretMount(SecretCondaChannels, ""))
		}
		override := ""
		if src.CondaOverride {
			override = " --override-channels"
		}
		writeRun(&b, mounts, withFingerprint(fmt.Sprintf(condaScript, override), src.condaFingerprint()), "conda", conda)
	}
	if len(pip) > 0 {
		mounts := []string{cacheMount(CachePip, "pip")}
		if src.pipSet() {
			mounts = append(mounts, secretMount(SecretPipConf, ""))
		}
		writeRun(&b, mounts, withFingerprint(pipScript, src.pipFingerprint()), "pip", pip)
	}
	return b.String()
}

func packageTexts(list []string) []string {
	lines := PackageLines(list)
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.Text
	}
	return out
}

// cacheMount mounts a package manager's cache at CacheDir/<dir> (see
// ExclusiveCaches for who may use it at once).
func cacheMount(id, dir string) string {
	return "--mount=type=cache,id=" + id + ",target=" + CacheDir + "/" + dir
}

// secretMount mounts a build secret at /run/secrets/<id>.
func secretMount(id, mode string) string {
	m := "--mount=type=secret,id=" + id + ",required=true"
	if mode != "" {
		m += ",mode=" + mode
	}
	return m
}

// withFingerprint starts script with a no-op naming its sources' version.
func withFingerprint(script, fp string) string {
	if fp == "" {
		return script
	}
	return ": sources " + fp + "; " + script
}

// writeRun writes an exec-form RUN whose argv is JSON encoded: the script,
// $0, then each package as its own argument.
func writeRun(b *strings.Builder, mounts []string, script, name string, args []string) {
	argv := append([]string{"/bin/sh", "-c", script, name}, args...)
	b.WriteString("RUN ")
	for _, m := range mounts {
		b.WriteString(m + " ")
	}
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false) // keep ">=" readable; JSON stays valid
	_ = enc.Encode(argv)     // a []string always encodes; Encode adds "\n"
}

// stepMarkers are substrings of each step's fixed script, by step name
// ($0 of its RUN: "conda-check", "apt", "conda", "pip").
var stepMarkers = []struct{ marker, step string }{
	{"will be installed with", "conda-check"},
	{"apt-get update", "apt"},
	{"install -y -n base", "conda"},
	{"PIP_BREAK_SYSTEM_PACKAGES", "pip"},
}

// StepIn names the package manager step whose script text quotes (a
// build tool's error quotes the RUN it ran), or "" for none.
func StepIn(text string) string {
	for _, m := range stepMarkers {
		if strings.Contains(text, m.marker) {
			return m.step
		}
	}
	return ""
}

// ParseRun splits a RUN line that Render wrote into its --mount flags and
// its exec-form argv; ok is false for any other line.
func ParseRun(line string) (mounts, argv []string, ok bool) {
	rest, found := strings.CutPrefix(line, "RUN ")
	if !found {
		return nil, nil, false
	}
	for strings.HasPrefix(rest, "--") {
		flag, after, _ := strings.Cut(rest, " ")
		mounts, rest = append(mounts, flag), after
	}
	if json.Unmarshal([]byte(rest), &argv) != nil {
		return nil, nil, false
	}
	return mounts, argv, true
}

// ContentKey names what a build of spec makes: its Containerfile (the
// package lines as they reach the package managers, the recipe's scripts
// and the sources' fingerprints) over the base image's digest. Two builds
// with the same key make the same image, as far as the inputs go; the key
// leaves out what does not change the result (the step plan, the limits,
// the pull secret, credentials).
func ContentKey(spec imagespec.Spec, baseDigest string, sources Sources) string {
	spec.PullSecret = ""
	spec.BaseImage += "@" + baseDigest
	sum := sha256.Sum256([]byte(RenderWith(spec, Options{Sources: sources.Redacted()})))
	return hex.EncodeToString(sum[:])
}
