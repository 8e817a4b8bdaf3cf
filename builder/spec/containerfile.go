package spec

import (
	"encoding/json"
	"strings"

	"imagebuilder/db"
)

// The package managers' steps. Each is a fixed shell script run as
//
//	RUN ["/bin/sh", "-c", script, "<manager>", pkg1, pkg2, ...]
//
// so the packages arrive as "$@": separate argv entries that no shell ever
// parses. Whatever a line contains, it cannot become shell code; validation
// additionally rejects lines that would be read as options.
const (
	aptScript = `set -eu; ` +
		`if ! command -v apt-get >/dev/null 2>&1; then echo "Image Builder: the base image has no apt-get, so APT packages cannot be installed; choose a Debian or Ubuntu based image or remove the APT packages." >&2; exit 1; fi; ` +
		`export DEBIAN_FRONTEND=noninteractive; ` +
		`apt-get update; ` +
		`apt-get install -y --no-install-recommends "$@"; ` +
		`apt-get clean; rm -rf /var/lib/apt/lists/*`

	condaDetect = `if command -v micromamba >/dev/null 2>&1; then c=micromamba; ` +
		`elif command -v mamba >/dev/null 2>&1; then c=mamba; ` +
		`elif command -v conda >/dev/null 2>&1; then c=conda; ` +
		`else echo "Image Builder: the base image has no conda, mamba or micromamba, so Conda packages cannot be installed; choose a conda-based image or remove the Conda packages." >&2; exit 1; fi`

	condaPreflight = `set -eu; ` + condaDetect + `; echo "Image Builder: Conda packages will be installed with $c"`

	condaScript = `set -eu; ` + condaDetect + `; ` +
		`"$c" install -y -n base "$@"; ` +
		`"$c" clean -a -y >/dev/null 2>&1 || true`

	// PEP 668: Debian marks its Python "externally managed". Image Builder
	// installs Pip packages into the image's system Python (pip puts them
	// under /usr/local, away from Debian's own files) by setting
	// PIP_BREAK_SYSTEM_PACKAGES=1, which older pip versions simply ignore.
	// A container image is the environment, so a venv would only hide the
	// packages from the plain python3 the users run.
	pipScript = `set -eu; ` +
		`if command -v pip3 >/dev/null 2>&1; then set -- pip3 install "$@"; ` +
		`elif command -v pip >/dev/null 2>&1; then set -- pip install "$@"; ` +
		`elif command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then set -- python3 -m pip install "$@"; ` +
		`else echo "Image Builder: the base image has no pip, so Pip packages cannot be installed; add python3-pip to the APT packages or choose a Python image." >&2; exit 1; fi; ` +
		`PIP_BREAK_SYSTEM_PACKAGES=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore "$@"`
)

// Containerfile renders the build instructions for spec. It validates spec
// first and returns a ValidationError if anything is wrong. The output is
// deterministic and ordered for cache reuse: base, (conda check), APT,
// Conda, Pip; each package manager is one layer that cleans its caches, so
// changing only the Pip list reuses the APT and Conda layers.
func Containerfile(spec db.ImageSpec) (string, error) {
	if err := Validate(spec); err != nil {
		return "", err
	}
	return Render(spec), nil
}

// Render writes the Containerfile of spec without validating it (see
// Containerfile); tests use it to show that even an unvalidated line
// reaches its package manager as one argument.
func Render(spec db.ImageSpec) string {
	var b strings.Builder
	b.WriteString("# Image Builder spec " + spec.Name + "\n")
	b.WriteString("FROM " + spec.BaseImage + "\n")
	apt, conda, pip := packageTexts(spec.APT), packageTexts(spec.Conda), packageTexts(spec.Pip)
	if len(conda) > 0 {
		// Fail before the APT step, not after minutes of it.
		writeRun(&b, condaPreflight, "conda-check", nil)
	}
	if len(apt) > 0 {
		writeRun(&b, aptScript, "apt", apt)
	}
	if len(conda) > 0 {
		writeRun(&b, condaScript, "conda", conda)
	}
	if len(pip) > 0 {
		writeRun(&b, pipScript, "pip", pip)
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

// writeRun writes an exec-form RUN whose argv is JSON encoded: the script,
// $0, then each package as its own argument.
func writeRun(b *strings.Builder, script, name string, args []string) {
	argv := append([]string{"/bin/sh", "-c", script, name}, args...)
	b.WriteString("RUN ")
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
