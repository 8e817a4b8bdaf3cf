package images

import (
	"archive/tar"
	"bytes"
	"strings"
	"testing"
)

// entry is one tar entry: a file with content, a directory (name ends in
// "/"), or a symlink (link set).
type entry struct{ name, content, link string }

func layerTar(t *testing.T, entries ...entry) *bytes.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o755, Typeflag: tar.TypeReg, Size: int64(len(e.content))}
		switch {
		case e.link != "":
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, e.link, 0
		case e.name[len(e.name)-1] == '/':
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			if _, err := tw.Write([]byte(e.content)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(buf.Bytes())
}

// The layers stack as a container's root does: a merged-/usr symlink
// finds tools in /usr/bin, os-release through its symlink, whiteouts and
// opaque directories hide what lower layers had, and an upper layer's own
// entries survive its whiteouts.
func TestTheLayersStackAsARootWould(t *testing.T) {
	tr := newTree()
	layers := [][]entry{
		{
			{name: "bin", link: "usr/bin"},
			{name: "usr/bin/"},
			{name: "usr/bin/apt-get", content: "#!"},
			{name: "usr/bin/python3", content: "#!"},
			{name: "usr/lib/os-release", content: "ID=debian\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"},
			{name: "etc/os-release", link: "../usr/lib/os-release"},
			{name: "usr/lib/python3/dist-packages/pip/"},
			{name: "usr/lib/python3/dist-packages/pip/__init__.py", content: "x"},
			{name: "opt/conda/bin/conda", content: "#!"},
			{name: "usr/share/doc/apt-get", content: "not a tool"},
		},
		{
			{name: "usr/bin/.wh.python3"},
			{name: "usr/lib/python3/dist-packages/.wh.pip"},
			{name: "opt/conda/bin/.wh..wh..opq"},
			{name: "opt/conda/bin/mamba", content: "#!"},
		},
	}
	for _, l := range layers {
		if err := tr.apply(layerTar(t, l...)); err != nil {
			t.Fatal(err)
		}
	}
	for tool, want := range map[string]bool{"apt-get": true, "python3": false, "conda": false, "mamba": true, "micromamba": false} {
		if got := tr.hasTool(tool); got != want {
			t.Errorf("tool %s: %v, want %v", tool, got, want)
		}
	}
	if !tr.present("bin/apt-get") {
		t.Error("/bin/apt-get through the /bin symlink is not found")
	}
	if tr.hasPythonModule("pip") {
		t.Error("the whited-out pip module is still found")
	}
	if got := tr.prettyName(); got != "Debian GNU/Linux 12 (bookworm)" {
		t.Errorf("os-release through its symlink: %q", got)
	}

	// A third layer brings python3 and pip back and hides all of /usr/bin.
	if err := tr.apply(layerTar(t,
		entry{name: "usr/bin/.wh..wh..opq"},
		entry{name: "usr/bin/python3", content: "#!"},
		entry{name: "usr/local/lib/python3.11/site-packages/pip/"},
	)); err != nil {
		t.Fatal(err)
	}
	if !tr.hasTool("python3") || tr.hasTool("apt-get") || !tr.hasPythonModule("pip") {
		t.Errorf("after the third layer: python3 %v, apt-get %v, pip module %v", tr.hasTool("python3"), tr.hasTool("apt-get"), tr.hasPythonModule("pip"))
	}
}

// A symlink that climbs out of the image stays inside it.
func TestSymlinksStayInsideTheImage(t *testing.T) {
	tr := newTree()
	if err := tr.apply(layerTar(t,
		entry{name: "etc/os-release", link: "../../../../etc/os-release"},
		entry{name: "usr/bin/conda", link: "/opt/conda/bin/conda"},
	)); err != nil {
		t.Fatal(err)
	}
	if got := tr.prettyName(); got != "" {
		t.Errorf("a looping os-release gave %q", got)
	}
	if !tr.hasTool("conda") {
		t.Error("a dangling tool symlink is a tool, as Lstat says")
	}
}

// Links that point below themselves, or at each other, end the lookup
// (as ELOOP would) instead of recursing without end: an image is input
// anyone may name in the form.
func TestSelfReferringLinksEndTheLookup(t *testing.T) {
	tr := newTree()
	if err := tr.apply(layerTar(t,
		entry{name: "etc/os-release", link: "os-release/x"},
		entry{name: "bin", link: "bin/x"},
		entry{name: "sbin", link: "usr/sbin/y"},
		entry{name: "usr/sbin", link: "/sbin/z"},
	)); err != nil {
		t.Fatal(err)
	}
	if got := tr.prettyName(); got != "" {
		t.Errorf("os-release below itself: %q", got)
	}
	for _, tool := range []string{"apt-get", "python3"} {
		if tr.hasTool(tool) {
			t.Errorf("%s found through looping links", tool)
		}
	}
}

// What an upper layer puts at a path replaces what was there: a large or
// special os-release hides the lower one's name, and a file where a
// directory was hides the directory's entries.
func TestAnUpperLayerReplacesWhatWasBelow(t *testing.T) {
	tr := newTree()
	for _, l := range [][]entry{
		{{name: "etc/os-release", content: "PRETTY_NAME=Old\n"}, {name: "opt/conda/bin/conda", content: "#!"}},
		{{name: "etc/os-release", content: strings.Repeat("x", 70<<10)}, {name: "opt/conda/bin", content: "not a directory"}},
	} {
		if err := tr.apply(layerTar(t, l...)); err != nil {
			t.Fatal(err)
		}
	}
	if got := tr.prettyName(); got != "" {
		t.Errorf("the replaced os-release still names %q", got)
	}
	if tr.hasTool("conda") {
		t.Error("conda is found below a directory that became a file")
	}
}

// A directory symlink whose target has no entry of its own (only entries
// below it) still leads there.
func TestALinkToADirectoryWithoutItsOwnEntry(t *testing.T) {
	tr := newTree()
	if err := tr.apply(layerTar(t, entry{name: "bin", link: "usr/bin"}, entry{name: "usr/bin/apt-get", content: "#!"})); err != nil {
		t.Fatal(err)
	}
	if !tr.present("bin/apt-get") {
		t.Error("/bin/apt-get through a link to a directory without its own entry")
	}
}
