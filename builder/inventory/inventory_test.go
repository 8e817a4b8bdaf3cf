package inventory

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"imagebuilder/builder/spec"
	"imagebuilder/db"
)

const status = `Package: jq
Status: install ok installed
Priority: optional
Architecture: amd64
Version: 1.6-2.1
Description: lightweight and flexible command-line JSON processor
 jq is like sed for JSON data.
 .
 More text.

Package: gone
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: libjq1
Status: install ok installed
Architecture: amd64
Source: jq
Version: 1.6-2.1
`

func tarOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func layerOf(t *testing.T, files map[string]string) layer {
	t.Helper()
	l, err := readTar(bytes.NewReader(tarOf(t, files)))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func names(pkgs []Package) []string {
	var out []string
	for _, p := range pkgs {
		out = append(out, p.Type+":"+p.Name+"="+FullVersion(p))
	}
	return out
}

func TestLayersWithWhiteouts(t *testing.T) {
	base := layerOf(t, map[string]string{
		"./var/lib/dpkg/status": status,
		"etc/os-release":        "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
		"usr/local/lib/python3.11/dist-packages/old-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: old\nVersion: 1.0\n",
		"usr/lib/python3/dist-packages/six-1.16.0.egg-info":                 "Metadata-Version: 1.1\nName: six\nVersion: 1.16.0\n\nlong description\nName: not-this\n",
		"opt/conda/conda-meta/numpy-1.26.4-py311h64a7726_0.json":            `{"name":"numpy","version":"1.26.4","build":"py311h64a7726_0","channel":"https://conda.anaconda.org/conda-forge/linux-64","subdir":"linux-64","files":["a"]}`,
		"opt/conda/envs/ml/conda-meta/scipy-1.11.0-0.json":                  `{"name":"scipy","version":"1.11.0","build":"0","channel":"defaults"}`,
		"opt/conda/envs/ml/conda-meta/history":                              "not json",
		"usr/share/doc/jq/copyright":                                        "ignored",
	})
	top := layerOf(t, map[string]string{
		"usr/local/lib/python3.11/dist-packages/.wh.old-1.0.dist-info":              "",
		"usr/local/lib/python3.11/dist-packages/Requests-2.31.0.dist-info/METADATA": "Name: Requests\nVersion: 2.31.0\n",
		"opt/conda/envs/ml/conda-meta/.wh..wh..opq":                                 "",
	})
	inv := merge([]layer{base, top}).inventory()
	want := []string{"deb:jq=1.6-2.1", "deb:libjq1=1.6-2.1", "python:Requests=2.31.0", "python:six=1.16.0", "conda:numpy=1.26.4=py311h64a7726_0"}
	if got := names(inv.Packages); !reflect.DeepEqual(got, want) {
		t.Fatalf("packages %v, want %v", got, want)
	}
	if inv.DistroID != "debian" || inv.DistroVersion != "12" {
		t.Fatalf("distro %q %q", inv.DistroID, inv.DistroVersion)
	}
	numpy := inv.Packages[4]
	if numpy.Channel != "conda-forge" || numpy.Arch != "linux-64" || numpy.Location != "/opt/conda/conda-meta/numpy-1.26.4-py311h64a7726_0.json" {
		t.Fatalf("numpy %+v", numpy)
	}
	if got := PURL(inv.Packages[0], inv); got != "pkg:deb/debian/jq@1.6-2.1?arch=amd64&distro=debian-12" {
		t.Fatalf("purl %s", got)
	}
	if got := PURL(inv.Packages[2], inv); got != "pkg:pypi/requests@2.31.0" {
		t.Fatalf("purl %s", got)
	}
}

func TestScanDirMatchesTheLayers(t *testing.T) {
	root := t.TempDir()
	write := func(p, body string) {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("var/lib/dpkg/status", status)
	write("usr/lib/python3.11/site-packages/a_b-2.0.dist-info/METADATA", "Name: a_b\nVersion: 2.0\n")
	write("usr/lib/python3.11/site-packages/c.egg-info/PKG-INFO", "Name: c\nVersion: 0.1\n")
	inv, err := ScanDir(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"deb:jq=1.6-2.1", "deb:libjq1=1.6-2.1", "python:a_b=2.0", "python:c=0.1"}
	if got := names(inv.Packages); !reflect.DeepEqual(got, want) {
		t.Fatalf("packages %v, want %v", got, want)
	}
}

func TestCompare(t *testing.T) {
	old := []Package{{Type: TypeDeb, Name: "jq", Version: "1.6", Arch: "amd64"}, {Type: TypeDeb, Name: "curl", Version: "7", Arch: "amd64"},
		{Type: TypePython, Name: "Requests", Version: "2.30"}}
	new := []Package{{Type: TypeDeb, Name: "jq", Version: "1.6", Arch: "amd64"}, {Type: TypeDeb, Name: "wget", Version: "1.21", Arch: "amd64"},
		{Type: TypePython, Name: "requests", Version: "2.31"}}
	d := Compare(old, new)
	if got := names(d.Added); !reflect.DeepEqual(got, []string{"deb:wget=1.21"}) {
		t.Fatalf("added %v", got)
	}
	if got := names(d.Removed); !reflect.DeepEqual(got, []string{"deb:curl=7"}) {
		t.Fatalf("removed %v", got)
	}
	if len(d.Changed) != 1 || d.Changed[0].Old.Version != "2.30" || d.Changed[0].New.Version != "2.31" {
		t.Fatalf("changed %+v", d.Changed)
	}
	if !Compare(new, new).Empty() {
		t.Fatal("an inventory differs from itself")
	}
}

func TestPinValidatesAndPinsEveryKind(t *testing.T) {
	s := db.ImageSpec{Name: "tools", BaseImage: "127.0.0.1:5000/library/debian:bookworm",
		APT:   []string{"jq", "# comment", "libjq1:amd64", "virtual-thing"},
		Conda: []string{"conda-forge::numpy>=1.20", "scipy"},
		Pip:   []string{"requests[socks]>=2 ; python_version >= \"3.8\"", "pkg @ https://example.com/pkg.whl"}}
	pkgs := []Package{
		{Type: TypeDeb, Name: "jq", Version: "1.6-2.1", Arch: "amd64"}, {Type: TypeDeb, Name: "libjq1", Version: "1.6-2.1", Arch: "amd64"},
		{Type: TypeConda, Name: "numpy", Version: "1.26.4", Build: "py311h64a7726_0"}, {Type: TypeConda, Name: "scipy", Version: "1.11.0", Build: "0"},
		{Type: TypePython, Name: "requests", Version: "2.30.0", Location: "/usr/lib/python3/dist-packages/requests-2.30.0.dist-info"},
		{Type: TypePython, Name: "requests", Version: "2.31.0", Location: "/usr/local/lib/python3.11/dist-packages/requests-2.31.0.dist-info"},
	}
	p := Pin(s, "sha256:"+strings.Repeat("a", 64), pkgs)
	want := db.ImageSpec{Name: "tools", BaseImage: "127.0.0.1:5000/library/debian:bookworm@sha256:" + strings.Repeat("a", 64),
		APT:   []string{"jq=1.6-2.1", "libjq1:amd64=1.6-2.1", "virtual-thing"},
		Conda: []string{"conda-forge::numpy=1.26.4=py311h64a7726_0", "scipy=1.11.0=0"},
		Pip:   []string{"requests[socks]==2.31.0 ; python_version >= \"3.8\"", "pkg @ https://example.com/pkg.whl"}}
	if !reflect.DeepEqual(p.Spec, want) {
		t.Fatalf("pinned\n%#v\nwant\n%#v", p.Spec, want)
	}
	if !reflect.DeepEqual(p.Unpinned, []string{"virtual-thing", "pkg @ https://example.com/pkg.whl"}) {
		t.Fatalf("unpinned %v", p.Unpinned)
	}
	if err := spec.Validate(p.Spec); err != nil {
		t.Fatalf("the pinned spec does not validate: %v", err)
	}
	req := Requested(s, pkgs)
	if !req[Key(pkgs[0])] || !req[Key(pkgs[5])] || !req[Key(pkgs[2])] || len(req) != 5 {
		t.Fatalf("requested %v", req)
	}
}

func TestDocumentsParseAndNameThePackages(t *testing.T) {
	inv := Inventory{DistroID: "debian", DistroVersion: "12", Packages: []Package{
		{Type: TypeDeb, Name: "jq", Version: "1.6-2.1", Arch: "amd64", Location: "/var/lib/dpkg/status"},
		{Type: TypeConda, Name: "numpy", Version: "1.26.4", Build: "py311_0", Channel: "conda-forge"}}}
	subj := Subject{Image: "127.0.0.1:5000/tools:3", Digest: "sha256:" + strings.Repeat("b", 64), Created: time.Unix(1700000000, 0)}
	var s, c bytes.Buffer
	if err := WriteSPDX(&s, subj, inv); err != nil {
		t.Fatal(err)
	}
	if err := WriteCycloneDX(&c, subj, inv); err != nil {
		t.Fatal(err)
	}
	var sd struct {
		SPDXVersion string `json:"spdxVersion"`
		Packages    []struct {
			Name, VersionInfo string
			ExternalRefs      []struct{ ReferenceLocator string }
		}
		Relationships []struct{ RelationshipType string }
	}
	if err := json.Unmarshal(s.Bytes(), &sd); err != nil {
		t.Fatal(err)
	}
	if sd.SPDXVersion != "SPDX-2.3" || len(sd.Packages) != 3 || sd.Packages[1].Name != "jq" || sd.Packages[2].VersionInfo != "1.26.4=py311_0" ||
		sd.Packages[1].ExternalRefs[0].ReferenceLocator != "pkg:deb/debian/jq@1.6-2.1?arch=amd64&distro=debian-12" || len(sd.Relationships) != 3 {
		t.Fatalf("SPDX: %s", s.String())
	}
	var cd struct {
		BOMFormat, SpecVersion string
		Metadata               struct {
			Component struct{ Name, Version string }
		}
		Components []struct{ Name, Version, Purl string }
	}
	if err := json.Unmarshal(c.Bytes(), &cd); err != nil {
		t.Fatal(err)
	}
	if cd.BOMFormat != "CycloneDX" || cd.SpecVersion != "1.6" || cd.Metadata.Component.Name != subj.Image || len(cd.Components) != 2 || cd.Components[1].Purl != "pkg:conda/numpy@1.26.4?build=py311_0&channel=conda-forge" {
		t.Fatalf("CycloneDX: %s", c.String())
	}
	var again bytes.Buffer
	_ = WriteSPDX(&again, subj, inv)
	if again.String() != s.String() {
		t.Fatal("the same inventory gave two SPDX documents")
	}
}
