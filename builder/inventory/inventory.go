// Package inventory owns what is inside a built image: it reads the
// packages installed in an image's root filesystem (Debian packages from
// the dpkg database, Python distributions from every *.dist-info and
// *.egg-info, Conda packages from every conda-meta directory), compares two
// inventories, writes them as SPDX and CycloneDX documents, and pins a spec
// to the versions an image has. It reads images through
// go.podman.io/image's ImageSource (a registry, whatever built the image)
// and knows nothing of HTTP, the queue or the database.
package inventory

import (
	"cmp"
	"slices"
	"strings"

	"imagebuilder/db"
)

// Types of package, as stored and as purl types.
const (
	TypeDeb    = "deb"
	TypePython = "python"
	TypeConda  = "conda"
)

// Types lists the package types in the order pages show them.
var Types = []string{TypeDeb, TypePython, TypeConda}

// Package is one installed package (the store's record).
type Package = db.Package

// Key is what identifies a package across two images: its type, name
// (normalised for Python) and, for Debian, its architecture.
func Key(p Package) string {
	switch p.Type {
	case TypePython:
		return p.Type + "/" + NormalizePython(p.Name)
	case TypeDeb:
		return p.Type + "/" + p.Name + "/" + p.Arch
	}
	return p.Type + "/" + p.Name // a Conda package moving to noarch is a change
}

// FullVersion is the version with a Conda build string.
func FullVersion(p Package) string {
	if p.Build != "" {
		return p.Version + "=" + p.Build
	}
	return p.Version
}

// Inventory is what one image holds.
type Inventory struct {
	// Distro is the image's os-release ID and VERSION_ID, e.g. "debian 12"
	// ("" when it has none).
	DistroID, DistroVersion string
	Packages                []Package
}

// Counts is the number of packages per type.
func Counts(pkgs []Package) map[string]int {
	out := map[string]int{}
	for _, p := range pkgs {
		out[p.Type]++
	}
	return out
}

// Sort orders packages by type (as Types), then name, arch and location.
func Sort(pkgs []Package) { slices.SortFunc(pkgs, comparePackages) }

func comparePackages(a, b Package) int {
	order := func(t string) int {
		if i := slices.Index(Types, t); i >= 0 {
			return i
		}
		return len(Types)
	}
	return cmp.Or(cmp.Compare(order(a.Type), order(b.Type)), cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)),
		cmp.Compare(a.Arch, b.Arch), cmp.Compare(a.Location, b.Location), cmp.Compare(a.Version, b.Version))
}

// Change is a package whose version differs between two images.
type Change struct {
	Old, New Package
}

// Diff is what changed from one image's packages to another's.
type Diff struct {
	Added, Removed []Package
	Changed        []Change
}

// Empty reports whether nothing changed.
func (d Diff) Empty() bool { return len(d.Added)+len(d.Removed)+len(d.Changed) == 0 }

// Compare says what changed from old to new, each part sorted. A package
// present more than once (two site-packages) counts as changed when the
// set of its versions changed.
func Compare(old, new []Package) Diff {
	group := func(pkgs []Package) map[string][]Package {
		m := map[string][]Package{}
		for _, p := range pkgs {
			m[Key(p)] = append(m[Key(p)], p)
		}
		return m
	}
	versions := func(ps []Package) string {
		var v []string
		for _, p := range ps {
			v = append(v, FullVersion(p))
		}
		slices.Sort(v)
		return strings.Join(v, ", ")
	}
	o, n := group(old), group(new)
	var d Diff
	for k, ps := range n {
		prev, ok := o[k]
		switch {
		case !ok:
			d.Added = append(d.Added, ps...)
		case versions(prev) != versions(ps):
			d.Changed = append(d.Changed, Change{Old: joined(prev, versions(prev)), New: joined(ps, versions(ps))})
		}
	}
	for k, ps := range o {
		if _, ok := n[k]; !ok {
			d.Removed = append(d.Removed, ps...)
		}
	}
	Sort(d.Added)
	Sort(d.Removed)
	slices.SortFunc(d.Changed, func(a, b Change) int { return comparePackages(a.New, b.New) })
	return d
}

// joined is the first of ps standing for all of them, with versions as
// its version when there are several.
func joined(ps []Package, versions string) Package {
	p := ps[0]
	if len(ps) > 1 {
		p.Version, p.Build, p.Location = versions, "", ""
	}
	return p
}

// NormalizePython is a Python project name as PEP 503 compares it.
func NormalizePython(name string) string {
	var b strings.Builder
	sep := false
	for _, r := range strings.ToLower(name) {
		if r == '-' || r == '_' || r == '.' {
			sep = true
			continue
		}
		if sep && b.Len() > 0 {
			b.WriteByte('-')
		}
		sep = false
		b.WriteRune(r)
	}
	return b.String()
}
