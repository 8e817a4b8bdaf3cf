package inventory

import (
	"strings"

	"go.podman.io/image/v5/docker/reference"

	"imagebuilder/builder/spec"
	"imagebuilder/db"
)

// Pinned is a spec pinned to what one image holds.
type Pinned struct {
	Spec db.ImageSpec
	// Unpinned are the lines no installed package answers (a virtual APT
	// package, a Pip "name @ URL"), kept as written.
	Unpinned []string
}

// Pin pins every package line of s to the version inv holds and the base
// image to baseDigest (when known): jq becomes jq=1.6-2.1, requests>=2
// requests==2.31.0, conda-forge::numpy conda-forge::numpy=1.26.4=py311h… (as
// conda list --export writes it) with its
// channel, and the base image name:tag@sha256:….
func Pin(s db.ImageSpec, baseDigest string, pkgs []Package) Pinned {
	out := Pinned{Spec: db.ImageSpec{Name: s.Name, BaseImage: pinBase(s.BaseImage, baseDigest), PullSecret: s.PullSecret}}
	pin := func(list []string, one func(string) (string, bool)) []string {
		var pinned []string
		for _, l := range spec.PackageLines(list) {
			p, ok := one(l.Text)
			if !ok {
				out.Unpinned = append(out.Unpinned, l.Text)
				p = l.Text
			}
			pinned = append(pinned, p)
		}
		return pinned
	}
	out.Spec.APT = pin(s.APT, func(line string) (string, bool) {
		name, arch := aptName(line)
		p, ok := find(pkgs, TypeDeb, name, arch)
		if !ok {
			return "", false
		}
		if arch != "" {
			name += ":" + arch
		}
		return name + "=" + p.Version, true
	})
	out.Spec.Conda = pin(s.Conda, func(line string) (string, bool) {
		c, err := spec.ParseCondaSpec(line)
		if err != nil {
			return "", false
		}
		p, ok := find(pkgs, TypeConda, c.Name, "")
		if !ok {
			return "", false
		}
		prefix := ""
		if c.Channel != "" {
			prefix = c.Channel
			if c.Subdir != "" {
				prefix += "/" + c.Subdir
			}
			prefix += "::"
		}
		pinned := prefix + c.Name + "=" + p.Version
		if p.Build != "" {
			pinned += "=" + p.Build
		}
		return pinned, true
	})
	out.Spec.Pip = pin(s.Pip, func(line string) (string, bool) {
		r, err := spec.ParsePipRequirement(line)
		if err != nil || r.URL != "" {
			return "", false
		}
		p, ok := find(pkgs, TypePython, r.Name, "")
		if !ok {
			return "", false
		}
		pinned := r.Name
		if len(r.Extras) > 0 {
			pinned += "[" + strings.Join(r.Extras, ",") + "]"
		}
		pinned += "==" + p.Version
		if r.Marker != "" {
			pinned += " ; " + r.Marker
		}
		return pinned, true
	})
	return out
}

// pinBase is ref pinned by digest, keeping its tag for the reader.
func pinBase(ref, dig string) string {
	if dig == "" {
		return ref
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ref
	}
	if _, ok := named.(reference.Digested); ok {
		return ref
	}
	return ref + "@" + dig
}

// aptName is the package name and architecture of an APT line
// (name[:arch][=version|/release]).
func aptName(line string) (name, arch string) {
	name = line
	if i := strings.IndexAny(name, "=/"); i >= 0 {
		name = name[:i]
	}
	name, arch, _ = strings.Cut(name, ":")
	return name, arch
}

// find is the installed package of type t named name (for Debian, of
// arch when given). A Python package installed twice is the one pip put
// under /usr/local (where Pip lines are installed) or, failing that, the
// first.
func find(pkgs []Package, t, name, arch string) (Package, bool) {
	var found []Package
	for _, p := range pkgs {
		if p.Type != t {
			continue
		}
		same := p.Name == name
		if t == TypePython {
			same = NormalizePython(p.Name) == NormalizePython(name)
		}
		if same && (arch == "" || p.Arch == arch) {
			found = append(found, p)
		}
	}
	if len(found) == 0 {
		return Package{}, false
	}
	for _, p := range found {
		if strings.Contains(p.Location, "/usr/local/") {
			return p, true
		}
	}
	return found[0], true
}

// Requested marks the packages the spec's lines asked for, by Key.
func Requested(s db.ImageSpec, pkgs []Package) map[string]bool {
	out := map[string]bool{}
	mark := func(t, name, arch string) {
		if p, ok := find(pkgs, t, name, arch); ok {
			out[Key(p)] = true
		}
	}
	for _, l := range spec.PackageLines(s.APT) {
		name, arch := aptName(l.Text)
		mark(TypeDeb, name, arch)
	}
	for _, l := range spec.PackageLines(s.Conda) {
		if c, err := spec.ParseCondaSpec(l.Text); err == nil {
			mark(TypeConda, c.Name, "")
		}
	}
	for _, l := range spec.PackageLines(s.Pip) {
		if r, err := spec.ParsePipRequirement(l.Text); err == nil {
			mark(TypePython, r.Name, "")
		}
	}
	return out
}

// LineChanges are the lines of one list that differ between two specs.
type LineChanges struct {
	List           string // "base", "apt", "conda", "pip", "pullSecret"
	Added, Removed []string
}

// SpecChanges lists what differs between two specs, list by list.
func SpecChanges(old, new db.ImageSpec) []LineChanges {
	var out []LineChanges
	one := func(list string, a, b []string) {
		var lc LineChanges
		lc.List = list
		in := func(l []string, s string) bool {
			for _, x := range l {
				if x == s {
					return true
				}
			}
			return false
		}
		for _, s := range b {
			if !in(a, s) {
				lc.Added = append(lc.Added, s)
			}
		}
		for _, s := range a {
			if !in(b, s) {
				lc.Removed = append(lc.Removed, s)
			}
		}
		if len(lc.Added)+len(lc.Removed) > 0 {
			out = append(out, lc)
		}
	}
	texts := func(list []string) []string {
		var t []string
		for _, l := range spec.PackageLines(list) {
			t = append(t, l.Text)
		}
		return t
	}
	one("base", []string{old.BaseImage}, []string{new.BaseImage})
	one("pullSecret", nonEmpty(old.PullSecret), nonEmpty(new.PullSecret))
	one("apt", texts(old.APT), texts(new.APT))
	one("conda", texts(old.Conda), texts(new.Conda))
	one("pip", texts(old.Pip), texts(new.Pip))
	return out
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}
