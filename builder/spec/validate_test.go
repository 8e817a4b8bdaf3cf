package spec

import (
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"imagebuilder/builder/spec/spectest"
	"imagebuilder/db"
)

func TestCheckName(t *testing.T) {
	good := []string{"a", "ab", "my-image", "my.image", "tf2.4-gpu", "a--b", "x1", strings.Repeat("a", 63)}
	for _, n := range good {
		if msg := CheckName(n); !msg.IsZero() {
			t.Errorf("CheckName(%q) = %q, want ok", n, msg)
		}
	}
	bad := map[string]string{
		"":                      "required",
		"My-Image":              "uppercase",
		"my_image":              `'_'`,
		"my image":              `' '`,
		"-image":                "start with",
		".image":                "start with",
		"image-":                "end with",
		"image.":                "end with",
		"a..b":                  "'..'",
		"a.-b":                  "next to",
		"a-.b":                  "next to",
		strings.Repeat("a", 64): "at most 63",
		"naïve":                 "contains",
	}
	for n, want := range bad {
		msg := CheckName(n).String()
		if !strings.Contains(msg, want) {
			t.Errorf("CheckName(%q) = %q, want it to mention %q", n, msg, want)
		}
	}
}

func TestCheckImageReference(t *testing.T) {
	for _, ref := range []string{"debian:bookworm", "127.0.0.1:5000/library/debian:bookworm", "busybox",
		"registry.example.com/team/image@sha256:" + strings.Repeat("a", 64)} {
		if msg := CheckImageReference(ref); !msg.IsZero() {
			t.Errorf("%q: %s", ref, msg)
		}
	}
	for _, ref := range []string{"", "Debian:bookworm", "debian:book worm", "debian\nRUN id", "debian:", "a//b"} {
		if msg := CheckImageReference(ref); msg.IsZero() {
			t.Errorf("%q accepted", ref)
		}
	}
}

func TestAPTLines(t *testing.T) {
	good := []string{"curl", "jq", "libc6:amd64", "curl=7.88.1-10+deb12u5", "g++", "python3.11",
		"curl/bookworm-backports", "libstdc++6:i386=12.2.0-14", "openssl=1:3.0.11-1~deb12u2"}
	for _, l := range good {
		if msg := checkAPTLine(l); !msg.IsZero() {
			t.Errorf("apt %q: %s", l, msg)
		}
	}
	bad := map[string]string{
		"Curl":         "lowercase",
		"c":            "too short",
		"curl jq":      "one package on each line",
		"curl=":        "version must follow",
		"curl/":        "release must follow",
		"curl:AMD64":   "architecture",
		"_curl":        "not a valid Debian package name",
		"curl=1.0;ls":  "not a valid Debian version",
		"curl/../../x": "not a valid release",
		"curl:amd64:x": "architecture",
		"curl=$(id)":   "not a valid Debian version",
	}
	for l, want := range bad {
		if msg := checkAPTLine(l).String(); !strings.Contains(msg, want) {
			t.Errorf("apt %q = %q, want %q", l, msg, want)
		}
	}
}

func TestPipLines(t *testing.T) {
	cases := map[string]PipRequirement{
		"requests": {Name: "requests"},
		"requests[security,socks] >= 2.8.1, == 2.8.*": {Name: "requests", Extras: []string{"security", "socks"}, Specifier: ">=2.8.1,==2.8.*"},
		"numpy==1.26.4":                          {Name: "numpy", Specifier: "==1.26.4"},
		"name (>=1.0,<2)":                        {Name: "name", Specifier: ">=1.0,<2"},
		`pywin32 >1.0 ; sys_platform == "win32"`: {Name: "pywin32", Specifier: ">1.0", Marker: `sys_platform == "win32"`},
		`foo; python_version < "3.8" and (os_name == 'nt' or extra == "x")`: {Name: "foo", Marker: `python_version < "3.8" and (os_name == 'nt' or extra == "x")`},
		"pip @ https://github.com/pypa/pip/archive/1.3.1.zip#sha1=da9234ee": {Name: "pip", URL: "https://github.com/pypa/pip/archive/1.3.1.zip#sha1=da9234ee"},
		`pkg @ git+https://example.com/x.git@v1 ; python_version >= "3"`:    {Name: "pkg", URL: "git+https://example.com/x.git@v1", Marker: `python_version >= "3"`},
		"torch~=2.1":                     {Name: "torch", Specifier: "~=2.1"},
		"Django===4.2":                   {Name: "Django", Specifier: "===4.2"},
		`a; "linux" in sys_platform`:     {Name: "a", Marker: `"linux" in sys_platform`},
		`a; "x" not in platform_release`: {Name: "a", Marker: `"x" not in platform_release`},
	}
	for line, want := range cases {
		got, err := ParsePipRequirement(line)
		if err != nil {
			t.Errorf("pip %q: %v", line, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("pip %q = %+v, want %+v", line, got, want)
		}
	}
	bad := map[string]string{
		"numpy=1.0":         "unknown version operator \"=\"",
		"numpy=>1.0":        "unknown version operator \"=>\"",
		"numpy >=":          "version must follow",
		"numpy[extra":       "never closed",
		"numpy pandas":      "one requirement on each line",
		"numpy>=1.*":        "wildcard",
		"x @ ftp://a/b":     "scheme",
		"x @":               "URL must follow",
		"x; foo == '1'":     "not an environment marker variable",
		"x; python_version": "comparison",
		"x; os_name == 'nt": "never closed",
		"-e .":              "not allowed",
		"numpy (>=1.0":      "never closed",
		"_numpy":            "must start with a letter or digit",
		"numpy-":            "must end with a letter or digit",
		"numpy>=1.0 extra":  "unexpected",
	}
	for l, want := range bad {
		m := commonLineProblem(ListPip, l)
		if m.IsZero() {
			m = checkPipLine(l)
		}
		msg := m.String()
		if !strings.Contains(msg, want) {
			t.Errorf("pip %q = %q, want %q", l, msg, want)
		}
	}
}

func TestCondaMatchSpec(t *testing.T) {
	cases := map[string]CondaSpec{
		"numpy":                       {Name: "numpy"},
		"conda-forge::numpy==1.17*":   {Channel: "conda-forge", Name: "numpy", Version: "==1.17*"},
		"numpy>=1.8,<2":               {Name: "numpy", Version: ">=1.8,<2"},
		"numpy 1.11.*":                {Name: "numpy", Version: "1.11.*"},
		"numpy 1.11.1 py36_0":         {Name: "numpy", Version: "1.11.1", Build: "py36_0"},
		"numpy >= 1.8":                {Name: "numpy", Version: ">=1.8"},
		"numpy=1.11.1|1.11.3":         {Name: "numpy", Version: "=1.11.1|1.11.3"},
		"numpy=1.11.1=py36_0":         {Name: "numpy", Version: "=1.11.1", Build: "py36_0"},
		"bioconda/linux-64::samtools": {Channel: "bioconda", Subdir: "linux-64", Name: "samtools"},
		"numpy[version='>=1.8,<2']":   {Name: "numpy", Keys: []CondaKey{{"version", ">=1.8,<2"}}},
		"pytorch[build=*cuda*]":       {Name: "pytorch", Keys: []CondaKey{{"build", "*cuda*"}}},
		"conda-forge/noarch:ns:pkg[md5=abc, license=MIT]": {Channel: "conda-forge", Subdir: "noarch", Namespace: "ns", Name: "pkg",
			Keys: []CondaKey{{"md5", "abc"}, {"license", "MIT"}}},
		"https://conda.anaconda.org/conda-forge::numpy": {Channel: "https://conda.anaconda.org/conda-forge", Name: "numpy"},
		"python (>=3.8,<3.12)|3.7.*":                    {Name: "python", Version: "(>=3.8,<3.12)|3.7.*"},
		`numpy[build_number=2,channel="conda-forge"]`:   {Name: "numpy", Keys: []CondaKey{{"build_number", "2"}, {"channel", "conda-forge"}}},
	}
	for line, want := range cases {
		got, err := ParseCondaSpec(line)
		if err != nil {
			t.Errorf("conda %q: %v", line, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("conda %q = %+v, want %+v", line, got, want)
		}
		// The canonical form parses back to the same spec.
		again, err := ParseCondaSpec(got.String())
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Errorf("conda %q: canonical %q reparses to %+v, %v", line, got.String(), again, err)
		}
	}
	bad := map[string]string{
		"numpy[version='>=1.8'":      "never closed",
		"numpy]":                     "no matching",
		"numpy[foo=bar]":             "unknown key \"foo\"",
		"numpy[]":                    "empty",
		"numpy[build=]":              "empty value",
		"numpy[build=a,build=b]":     "twice",
		"::numpy":                    "channel before '::' is empty",
		"conda-forge:numpy":          "two colons",
		"conda-forge::":              "name is required",
		"==1.0":                      "name is required",
		"numpy=>1.0":                 "unknown version operator \"=>\"",
		"numpy>>1":                   "unknown version operator",
		"numpy>=1.0,":                "empty constraint",
		"numpy (>=1":                 "never closed",
		"numpy 1.0 py36 extra":       "too many parts",
		"numpy[build=x]foo":          "must come last",
		"numpy==1.0[build=x][md5=y]": "only one",
		"num$py":                     "not a valid conda package name",
		"numpy 1.0[version=2]":       "version is given twice",
		"bad chan::numpy":            "not a valid channel",
		"chan/notasubdir::numpy":     "subdir",
	}
	for l, want := range bad {
		_, err := ParseCondaSpec(l)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("conda %q = %v, want %q", l, err, want)
		}
	}
}

func TestValidateReportsEveryProblemWithListAndLine(t *testing.T) {
	spec := db.ImageSpec{
		Name:      "Bad_Name",
		BaseImage: "",
		APT:       []string{"# tools", "", "curl", "curl", "Foo"},
		Conda:     []string{"-c conda-forge::numpy==1.17*"},
		Pip:       []string{"requests", "-r requirements.txt", "Requests"},
	}
	err := Validate(spec)
	var verr ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("want ValidationError, got %v", err)
	}
	got := strings.Split(verr.Error(), "\n")
	want := []string{
		`name: "Bad_Name" has an uppercase letter`,
		`name: "Bad_Name" contains '_'`,
		"baseImage: base image is required",
		`apt:4: "curl" is listed twice (first on line 3)`,
		`apt:5: "Foo" has uppercase letters`,
		`conda:1: options such as "-c" are not allowed; write the channel in the package itself`,
		`pip:2: options such as "-r" are not allowed`,
		`pip:3: "Requests" is listed twice (first on line 1)`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %d errors:\n%s", len(got), verr.Error())
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("error %d = %q, want prefix %q", i, got[i], want[i])
		}
	}
	if n := len(verr.For(ListAPT)); n != 2 {
		t.Errorf("For(apt) = %d errors, want 2", n)
	}
}

func TestHostileLinesAreRejectedByEveryList(t *testing.T) {
	for _, line := range spectest.HostileLines {
		for _, list := range []string{ListAPT, ListConda, ListPip} {
			spec := db.ImageSpec{Name: "x", BaseImage: "busybox"}
			switch list {
			case ListAPT:
				spec.APT = SplitLines(line)
			case ListConda:
				spec.Conda = SplitLines(line)
			case ListPip:
				spec.Pip = SplitLines(line)
			}
			var verr ValidationError
			if err := Validate(spec); !errors.As(err, &verr) || len(verr.For(list)) == 0 {
				t.Errorf("%s accepted hostile line %q", list, line)
			}
		}
	}
}

// Even if validation were bypassed, a package reaches the package manager as
// exactly one argv entry: the rendered RUN is JSON exec form whose argument
// list is the script, $0 and the packages unchanged.
func TestRenderPassesEveryLineAsOneArgument(t *testing.T) {
	lines := make([]string, 0, len(spectest.HostileLines))
	for _, l := range spectest.HostileLines {
		if !strings.ContainsAny(l, "\n\r#") && strings.TrimSpace(l) == l {
			lines = append(lines, l)
		}
	}
	cf := Render(db.ImageSpec{Name: "x", BaseImage: "busybox", APT: lines, Conda: lines, Pip: lines})
	runs := 0
	for _, l := range strings.Split(cf, "\n") {
		if !strings.HasPrefix(l, "RUN ") {
			continue
		}
		runs++
		_, argv, ok := ParseRun(l)
		if !ok {
			t.Fatalf("RUN is not JSON exec form:\n%s", l)
		}
		if argv[0] != "/bin/sh" || argv[1] != "-c" {
			t.Fatalf("unexpected argv %q", argv[:2])
		}
		if argv[3] == "conda-check" {
			continue
		}
		if !reflect.DeepEqual(argv[4:], lines) {
			t.Errorf("%s: packages changed on the way:\n got %q\nwant %q", argv[3], argv[4:], lines)
		}
		if strings.Contains(argv[2], "touch") {
			t.Errorf("a package leaked into the script: %s", argv[2])
		}
	}
	if runs != 4 {
		t.Fatalf("want 4 RUN lines, got %d:\n%s", runs, cf)
	}
}

func TestContainerfileOrderAndDeterminism(t *testing.T) {
	spec := db.ImageSpec{Name: "demo", BaseImage: "127.0.0.1:5000/library/debian:bookworm",
		APT: []string{"jq", "# comment", "curl"}, Conda: []string{"numpy>=1.8,<2"}, Pip: []string{"requests>=2"}}
	a, err := Containerfile(spec)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Containerfile(spec)
	if a != b {
		t.Fatal("rendering is not deterministic")
	}
	order := []string{"FROM 127.0.0.1:5000/library/debian:bookworm", `"conda-check"]`, `"apt","jq","curl"]`, `"conda","numpy>=1.8,<2"]`, `"pip","requests>=2"]`}
	pos := -1
	for _, o := range order {
		i := strings.Index(a, o)
		if i <= pos {
			t.Fatalf("%q out of order in:\n%s", o, a)
		}
		pos = i
	}
	// Changing Pip changes only the lines after the Conda step.
	spec.Pip = []string{"flask"}
	c, _ := Containerfile(spec)
	prefix := a[:strings.Index(a, "RUN --mount=type=cache,id="+CachePip)]
	if !strings.HasPrefix(c, prefix) {
		t.Fatalf("changing pip changed earlier steps:\n%s\nvs\n%s", a, c)
	}
	for _, step := range []string{"apt", "conda", "pip"} {
		if !strings.Contains(a, "--mount=type=cache,id=imagebuilder-"+step+",target=/var/cache/imagebuilder/"+step) {
			t.Errorf("the %s step does not mount its cache", step)
		}
	}
	if strings.Contains(a, "--mount=type=secret") {
		t.Error("a step mounts a secret though no package source is set")
	}
	if _, err := Containerfile(db.ImageSpec{Name: "x", BaseImage: "busybox\nRUN id"}); err == nil {
		t.Error("a base image with a newline was rendered")
	}
}

// Lists and lines are bounded to what the package managers can take: the
// whole list is refused with one error past MaxListLines, and each overlong
// line is named; the caller's list is left as it was.
func TestPackageListsAreBounded(t *testing.T) {
	long := "requests @ https://example.com/" + strings.Repeat("a", MaxLineLength)
	many := make([]string, 100000)
	for i := range many {
		many[i] = "bad line " + strconv.Itoa(i)
	}
	spec := db.ImageSpec{Name: "bounded", BaseImage: "127.0.0.1:5000/library/busybox:latest",
		Pip: []string{"requests", long}, APT: many}
	var verr ValidationError
	if !errors.As(Validate(spec), &verr) {
		t.Fatal("an unbounded spec was accepted")
	}
	apt := verr.For(ListAPT)
	if apt[0].Line != 0 || !strings.Contains(apt[0].Error(), "has 100000 lines; at most 500") {
		t.Fatalf("first APT error: %v", apt[0])
	}
	if len(apt) != MaxListLines+1 {
		t.Fatalf("%d APT errors for a list cut at %d lines", len(apt), MaxListLines)
	}
	pip := verr.For(ListPip)
	if len(pip) != 1 || pip[0].Line != 2 || !strings.Contains(pip[0].Error(), "at most 1000 are allowed") {
		t.Fatalf("pip errors: %v", pip)
	}
	if spec.Pip[1] != long {
		t.Fatal("Validate changed the caller's list")
	}
	ok := db.ImageSpec{Name: "ok", BaseImage: "127.0.0.1:5000/library/busybox:latest",
		Pip: []string{"pkg @ https://example.com/" + strings.Repeat("a", MaxLineLength-60) + ".tar.gz"}}
	if err := Validate(ok); err != nil {
		t.Fatalf("a long but bounded line: %v", err)
	}
}

// Every problem of a name is named, not only the first character class.
func TestNameProblemsNamesEveryProblem(t *testing.T) {
	got := NameProblems("-Bad_Name!")
	var texts []string
	for _, m := range got {
		texts = append(texts, m.String())
	}
	all := strings.Join(texts, "\n")
	for _, want := range []string{"uppercase letter", `contains '_'`, `contains '!'`, "must start with a letter or a number"} {
		if !strings.Contains(all, want) {
			t.Errorf("missing %q in:\n%s", want, all)
		}
	}
	if len(got) != 4 {
		t.Errorf("%d problems:\n%s", len(got), all)
	}
	if NameProblems("good-name.1") != nil {
		t.Error("a good name has problems")
	}
}

// The engine learns from the Containerfile which caches a build holds.
func TestCachesMountedNamesEachPackageManagersCacheOnce(t *testing.T) {
	cf, err := Containerfile(db.ImageSpec{Name: "all", BaseImage: "debian:12", APT: []string{"curl", "jq"},
		Conda: []string{"numpy"}, Pip: []string{"requests"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := CachesMounted(cf), []string{CacheAPT, CacheConda, CachePip}; !slices.Equal(got, want) {
		t.Errorf("CachesMounted = %v, want %v\n%s", got, want, cf)
	}
	if got := CachesMounted("FROM x\nRUN true\n"); len(got) != 0 {
		t.Errorf("a Containerfile without cache mounts: %v", got)
	}
}
