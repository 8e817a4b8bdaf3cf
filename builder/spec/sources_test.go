package spec

import (
	"fmt"
	"strings"
	"testing"

	"imagebuilder/db"
)

func TestSourcesCheckNamesEachBadField(t *testing.T) {
	s := Sources{
		PipIndexURL:       "ftp://mirror/simple",
		PipExtraIndexURLs: []string{"https://ok.example.com/simple", "https://bad host/simple"},
		PipTrustedHosts:   []string{"ok.example.com:8080", "bad host"},
		CondaChannels:     []string{"conda-forge", "-c evil"},
		APTSource:         "deb-src http://mirror/debian bookworm main",
		APTKey:            "not a key",
	}
	got := map[string]int{}
	for _, e := range s.Check() {
		got[e.Field+":"+string(rune('0'+e.Line))]++
	}
	for _, want := range []string{"pipIndexURL:0", "pipExtraIndexURLs:2", "pipTrustedHosts:2", "condaChannels:2", "aptSource:0", "aptKey:0"} {
		if got[want] == 0 {
			t.Errorf("no problem reported for %s; got %v", want, got)
		}
	}
	good := Sources{PipIndexURL: "https://u:p@pypi.example.com/simple", CondaChannels: []string{"conda-forge", "https://conda.example.com/t/tok123/main"},
		CondaOverride: true, APTSource: "deb [arch=amd64] http://mirror.example.com/debian bookworm main",
		APTKey: "-----BEGIN PGP PUBLIC KEY BLOCK-----\nabc\n-----END PGP PUBLIC KEY BLOCK-----"}
	if errs := good.Check(); len(errs) > 0 {
		t.Fatalf("good sources refused: %v", errs)
	}
	if errs := (Sources{CondaOverride: true}).Check(); len(errs) != 1 {
		t.Errorf("--override-channels without a channel: %v", errs)
	}
}

// Credentials go to secret files only: the rendered Containerfile, the
// redacted form and the summary never hold them, and the log filter
// knows each of them.
func TestSourcesKeepCredentialsOutOfTheContainerfile(t *testing.T) {
	s := Sources{PipIndexURL: "https://alice:S3cr3t-pw@pypi.example.com/simple", PipExtraIndexURLs: []string{"https://tok-only@extra.example.com/simple"},
		CondaChannels: []string{"https://conda.example.com/t/tok-987/main"}, APTSource: "deb http://bob:apt-pw@mirror.example.com/debian bookworm main",
		APTKey: "-----BEGIN PGP PUBLIC KEY BLOCK-----\nabc\n-----END PGP PUBLIC KEY BLOCK-----"}
	secrets := []string{"S3cr3t-pw", "tok-only", "tok-987", "apt-pw"}
	spec := db.ImageSpec{Name: "x", BaseImage: "debian", APT: []string{"jq"}, Conda: []string{"numpy"}, Pip: []string{"requests"}}
	cf := RenderWith(spec, Options{Sources: s})
	shown := cf + s.Redacted().Summary()
	for _, sec := range secrets {
		if strings.Contains(shown, sec) {
			t.Errorf("%q is in the Containerfile or summary", sec)
		}
		found := false
		for _, c := range s.Credentials() {
			found = found || strings.Contains(sec, c) || c == sec
		}
		if !found {
			t.Errorf("the log filter does not know %q: %q", sec, s.Credentials())
		}
	}
	if r := s.Redacted(); r.PipIndexURL != "https://alice:****@pypi.example.com/simple" || r.CondaChannels[0] != "https://conda.example.com/t/****/main" ||
		r.PipExtraIndexURLs[0] != "https://****@extra.example.com/simple" {
		t.Errorf("redacted: %+v", r)
	}
	for _, id := range []string{SecretPipConf, SecretCondaChannels, SecretAPTList, SecretAPTKey} {
		if !strings.Contains(cf, "--mount=type=secret,id="+id) {
			t.Errorf("no step mounts %s:\n%s", id, cf)
		}
	}
	files := s.SecretFiles()
	if !strings.Contains(string(files[SecretPipConf]), "index-url = https://alice:S3cr3t-pw@pypi.example.com/simple") {
		t.Errorf("pip.conf:\n%s", files[SecretPipConf])
	}
	if got := string(files[SecretAPTList]); got != "deb [signed-by=/run/secrets/imagebuilder-apt.asc] http://bob:apt-pw@mirror.example.com/debian bookworm main\n" {
		t.Errorf("APT list: %q", got)
	}
	// A changed source re-runs its step (its text changes); the credentials
	// alone do not.
	other := s
	other.PipIndexURL = "https://alice:other-pw@pypi.example.com/simple"
	if RenderWith(spec, Options{Sources: other}) != cf {
		t.Error("a new password changed the Containerfile")
	}
	other.PipIndexURL = "https://alice:S3cr3t-pw@pypi2.example.com/simple"
	if RenderWith(spec, Options{Sources: other}) == cf {
		t.Error("a new index did not change the Containerfile")
	}
	if !strings.Contains(RenderWith(spec, Options{Sources: Sources{CondaChannels: []string{"c"}, CondaOverride: true}}), "install -y -n base --override-channels") {
		t.Error("--override-channels is not passed")
	}
}

// Adding APT lines keeps the previous steps and adds one; anything else
// starts again from one step.
func TestPlanAPTKeepsStepsWhenPackagesAreOnlyAdded(t *testing.T) {
	prev := [][]string{{"jq", "curl"}}
	for _, tc := range []struct {
		name  string
		prev  [][]string
		lines []string
		want  string
	}{
		{"first build", nil, []string{"jq", "curl"}, "[[jq curl]]"},
		{"unchanged", prev, []string{"jq", "curl"}, "[[jq curl]]"},
		{"reordered", prev, []string{"curl", "jq"}, "[[jq curl]]"},
		{"one added", prev, []string{"jq", "rsync", "curl"}, "[[jq curl] [rsync]]"},
		{"one removed", prev, []string{"jq"}, "[[jq]]"},
		{"one edited", prev, []string{"jq=1.6-2.1", "curl"}, "[[jq=1.6-2.1 curl]]"},
		{"stack full", [][]string{{"a"}, {"b"}, {"c"}, {"d"}}, []string{"a", "b", "c", "d", "e"}, "[[a b c d e]]"},
		{"emptied", prev, nil, "[]"},
	} {
		if got := fmt.Sprint(PlanAPT(tc.prev, tc.lines)); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	cf := RenderWith(db.ImageSpec{Name: "x", BaseImage: "debian", APT: []string{"jq", "# note", "rsync", "curl"}}, Options{PreviousAPT: prev})
	if !strings.Contains(cf, `"apt","jq","curl"]`) || !strings.Contains(cf, `"apt","rsync"]`) || strings.Index(cf, `"apt","jq","curl"]`) > strings.Index(cf, `"apt","rsync"]`) {
		t.Errorf("the kept step does not come first:\n%s", cf)
	}
}
