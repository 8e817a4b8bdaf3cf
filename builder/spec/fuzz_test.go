package spec

import (
	"strings"
	"testing"

	"imagebuilder/db"
)

// fuzzLine is the property every package-line validator keeps: it never
// panics, and a line it accepts is bounded, printable ASCII, no option, and
// reaches the package manager as exactly one argument of one RUN line.
func fuzzLine(t *testing.T, list, line string) {
	spec := db.ImageSpec{Name: "fuzz", BaseImage: "127.0.0.1:5000/library/busybox:latest"}
	switch list {
	case ListAPT:
		spec.APT = []string{line}
	case ListConda:
		spec.Conda = []string{line}
	case ListPip:
		spec.Pip = []string{line}
	}
	cf, err := Containerfile(spec)
	if err != nil {
		return // refused: fine, whatever it was
	}
	lines := PackageLines([]string{line})
	if len(lines) == 0 {
		return // blank or comment
	}
	text := lines[0].Text
	if len(line) > MaxLineLength {
		t.Fatalf("%s accepted a %d-byte line", list, len(line))
	}
	for _, r := range text {
		if r < 0x20 || r > 0x7e {
			t.Fatalf("%s accepted %q with character %q", list, line, r)
		}
	}
	if strings.HasPrefix(text, "-") {
		t.Fatalf("%s accepted an option %q", list, line)
	}
	var run string
	for _, l := range strings.Split(strings.TrimSuffix(cf, "\n"), "\n") {
		if strings.HasPrefix(l, "RUN ") && strings.Contains(l, `"`+list+`"`) {
			run = l
		}
	}
	_, argv, ok := ParseRun(run)
	if !ok {
		t.Fatalf("%s line %q renders a RUN that is not a JSON array: %s", list, line, run)
	}
	if len(argv) != 5 || argv[3] != list || argv[4] != text {
		t.Fatalf("%s line %q does not arrive as one argument: %q", list, line, argv)
	}
}

var fuzzSeeds = []string{
	"jq", "curl=7.88.1-10+deb12u5", "curl/bookworm-backports", "libc6:amd64",
	"requests>=2.31", "pandas[excel]==2.2.*", "pkg @ https://example.com/p-1.0.tar.gz", "a; python_version<'3.8'",
	"conda-forge::numpy==1.17*", "numpy[version='>=1.8,<2']", "defaults/linux-64::scipy 1.9 py311_0",
	"jq; rm -rf /", "$(id)", "`id`", "--index-url=http://evil", "-c conda-forge", "a\nb", "x # comment",
}

func FuzzAPTLine(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) { fuzzLine(t, ListAPT, line) })
}

func FuzzPipLine(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) { fuzzLine(t, ListPip, line) })
}

func FuzzCondaLine(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) { fuzzLine(t, ListConda, line) })
}
