package inventory

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/textproto"
	"path"
	"strings"
)

// The files this package reads, and how much of each: a package database
// larger than this is not an honest one.
const (
	maxStatus   = 64 << 20 // the dpkg status file
	maxMetadata = 1 << 20  // a Python METADATA or PKG-INFO (headers only are read)
	maxConda    = 64 << 20 // a conda-meta JSON (it lists every file)
	maxRelease  = 64 << 10 // os-release
)

// kind is what a file of an image tells about its packages.
type kind int

const (
	notRead kind = iota
	dpkgStatus
	pythonMetadata // *.dist-info/METADATA, *.egg-info/PKG-INFO
	eggInfoFile    // a *.egg-info that is itself the PKG-INFO
	condaMeta
	osRelease
)

// classify says whether the file at p (absolute, cleaned) holds package
// records; dir tells whether it is a directory entry.
func classify(p string) kind {
	dir, base := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	switch {
	case p == "/var/lib/dpkg/status", dir == "/var/lib/dpkg/status.d" && !strings.HasPrefix(base, "."):
		return dpkgStatus
	case base == "METADATA" && strings.HasSuffix(strings.ToLower(dir), ".dist-info"),
		base == "PKG-INFO" && strings.HasSuffix(strings.ToLower(dir), ".egg-info"):
		return pythonMetadata
	case strings.HasSuffix(base, ".egg-info"):
		return eggInfoFile
	case strings.HasSuffix(base, ".json") && path.Base(dir) == "conda-meta":
		return condaMeta
	case p == "/etc/os-release", p == "/usr/lib/os-release":
		return osRelease
	}
	return notRead
}

// record is what one file says.
type record struct {
	pkgs    []Package
	release map[string]string
}

// readFile reads the records of a file of kind k at p.
func readFile(k kind, p string, r io.Reader) (record, error) {
	switch k {
	case dpkgStatus:
		pkgs, err := readStatus(io.LimitReader(r, maxStatus), p)
		return record{pkgs: pkgs}, err
	case pythonMetadata, eggInfoFile:
		loc := p
		if k == pythonMetadata {
			loc = path.Dir(p)
		}
		pkg, ok, err := readPythonMetadata(io.LimitReader(r, maxMetadata), loc)
		if !ok {
			return record{}, err
		}
		return record{pkgs: []Package{pkg}}, err
	case condaMeta:
		pkg, err := readCondaMeta(io.LimitReader(r, maxConda), p)
		if err != nil {
			return record{}, err
		}
		return record{pkgs: []Package{pkg}}, nil
	case osRelease:
		return record{release: readOSRelease(io.LimitReader(r, maxRelease))}, nil
	}
	return record{}, nil
}

// readStatus reads a dpkg status database: one stanza per package,
// separated by blank lines; only packages whose status is "installed" count.
func readStatus(r io.Reader, loc string) ([]Package, error) {
	var out []Package
	tp := textproto.NewReader(bufio.NewReaderSize(r, 64<<10))
	for {
		h, err := tp.ReadMIMEHeader()
		if len(h) > 0 {
			status := strings.Fields(h.Get("Status"))
			installed := len(status) == 3 && status[2] == "installed"
			if h.Get("Status") == "" {
				installed = true // status.d files of distroless images carry none
			}
			if name := h.Get("Package"); name != "" && installed {
				out = append(out, Package{Type: TypeDeb, Name: name, Version: h.Get("Version"), Arch: h.Get("Architecture"), Location: loc})
			}
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("read %s: %w", loc, err)
		}
	}
}

// readPythonMetadata reads the Name and Version of a core metadata file
// (email headers; the description after them is not read).
func readPythonMetadata(r io.Reader, loc string) (Package, bool, error) {
	h, err := textproto.NewReader(bufio.NewReader(r)).ReadMIMEHeader()
	if err != nil && err != io.EOF && len(h) == 0 {
		return Package{}, false, fmt.Errorf("read %s: %w", loc, err)
	}
	name, version := strings.TrimSpace(h.Get("Name")), strings.TrimSpace(h.Get("Version"))
	if name == "" {
		return Package{}, false, nil
	}
	return Package{Type: TypePython, Name: name, Version: version, Location: loc}, true, nil
}

// readCondaMeta reads one conda-meta/<name>-<version>-<build>.json.
func readCondaMeta(r io.Reader, loc string) (Package, error) {
	var m struct {
		Name    string `json:"name"`
		Version string `json:"version"`
		Build   string `json:"build"`
		Channel string `json:"channel"`
		Subdir  string `json:"subdir"`
	}
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		return Package{}, fmt.Errorf("read %s: %w", loc, err)
	}
	if m.Name == "" {
		return Package{}, fmt.Errorf("read %s: no package name", loc)
	}
	return Package{Type: TypeConda, Name: m.Name, Version: m.Version, Build: m.Build, Channel: channelName(m.Channel), Arch: m.Subdir, Location: loc}, nil
}

// channelName is a channel URL's name: https://conda.anaconda.org/conda-forge
// (or …/conda-forge/linux-64) is conda-forge; a name stays as it is.
func channelName(ch string) string {
	if !strings.Contains(ch, "://") {
		return ch
	}
	_, rest, _ := strings.Cut(ch, "://")
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	if len(parts) > 1 {
		last := parts[len(parts)-1]
		if strings.Contains(last, "-") && (strings.HasPrefix(last, "linux") || strings.HasPrefix(last, "osx") || strings.HasPrefix(last, "win") || last == "noarch") {
			parts = parts[:len(parts)-1]
		}
		if len(parts) > 1 {
			return parts[len(parts)-1]
		}
	}
	return ch
}

// readOSRelease reads KEY=value lines.
func readOSRelease(r io.Reader) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		out[k] = strings.Trim(v, `"'`)
	}
	return out
}

// files is the merged view of the records of an image's files, by path.
type files map[string]record

// inventory turns the records into an inventory.
func (f files) inventory() Inventory {
	var inv Inventory
	rel := f["/etc/os-release"].release
	if rel == nil {
		rel = f["/usr/lib/os-release"].release
	}
	inv.DistroID, inv.DistroVersion = rel["ID"], rel["VERSION_ID"]
	for _, r := range f {
		inv.Packages = append(inv.Packages, r.pkgs...)
	}
	Sort(inv.Packages)
	return inv
}
