package images

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/image"
	"go.podman.io/image/v5/types"

	"imagebuilder/builder/executor"
	"imagebuilder/builder/inventory"
	"imagebuilder/builder/registry"
)

// InspectBase resolves a base image reference (read with pullSecret, a
// Docker config JSON, when given) and says what it offers, from its
// config and its layers' file lists. An image that cannot be read gives
// an *executor.AuthError for refused credentials, registry.ErrBaseNotFound
// for a missing one, or the registry's error. A digest is read once.
func (c *Client) InspectBase(ctx context.Context, ref string, pullSecret []byte) (registry.BaseInfo, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return registry.BaseInfo{}, fmt.Errorf("base image %q: %w", ref, err)
	}
	sys, done, err := c.pullContext(named, pullSecret)
	if err != nil {
		return registry.BaseInfo{}, err
	}
	defer done()
	resolveCtx, cancel := context.WithTimeout(ctx, c.timeout)
	dig, err := resolve(resolveCtx, named, sys)
	cancel()
	if err != nil {
		return registry.BaseInfo{}, err
	}
	c.mu.Lock()
	info, ok := c.bases[dig.String()]
	c.mu.Unlock()
	if ok {
		return info, nil
	}
	pinned, err := reference.WithDigest(reference.TrimNamed(named), dig)
	if err != nil {
		return registry.BaseInfo{}, err
	}
	// Checks of one new base at once (two tabs, the form's live checks)
	// read its layers once; the read is bounded like a retag's.
	v, err, _ := c.reading.Do(dig.String(), func() (any, error) {
		readCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*c.timeout)
		defer cancel()
		info, err := readBase(readCtx, pinned, sys)
		if err != nil {
			return nil, err
		}
		info.Digest = dig.String()
		c.mu.Lock()
		c.bases[info.Digest] = info
		c.mu.Unlock()
		return info, nil
	})
	switch {
	case err == nil:
		return v.(registry.BaseInfo), nil
	case IsAuthError(err):
		return registry.BaseInfo{}, &executor.AuthError{Err: fmt.Errorf("read the base image %s: %w", ref, err)}
	case IsNotFound(err):
		return registry.BaseInfo{}, fmt.Errorf("%w: %s: %w", registry.ErrBaseNotFound, ref, err)
	}
	return registry.BaseInfo{}, fmt.Errorf("read %s: %w", ref, err)
}

// readBase reads the image (this machine's instance of a list) and walks
// its layers bottom-up, as a container's root would be stacked.
func readBase(ctx context.Context, named reference.Named, sys *types.SystemContext) (registry.BaseInfo, error) {
	dref, err := docker.NewReference(named)
	if err != nil {
		return registry.BaseInfo{}, err
	}
	src, err := dref.NewImageSource(ctx, sys)
	if err != nil {
		return registry.BaseInfo{}, err
	}
	defer src.Close()
	img, err := image.FromUnparsedImage(ctx, sys, image.UnparsedInstance(src, nil))
	if err != nil {
		return registry.BaseInfo{}, err
	}
	cfg, err := img.OCIConfig(ctx)
	if err != nil {
		return registry.BaseInfo{}, err
	}
	root := newTree()
	for _, l := range img.LayerInfos() {
		if err := inventory.ReadLayer(ctx, src, l, root.apply); err != nil {
			return registry.BaseInfo{}, err
		}
	}
	info := registry.BaseInfo{OS: root.prettyName(), Arch: cfg.Architecture, User: cfg.Config.User, Tools: map[string]bool{}}
	info.Tools["apt-get"] = root.hasTool("apt-get")
	info.Tools["python3"] = root.hasTool("python3")
	info.Tools["pip"] = root.hasTool("pip3") || root.hasTool("pip") || root.hasPythonModule("pip")
	info.Tools["conda"] = root.hasTool("conda") || root.hasTool("mamba") || root.hasTool("micromamba")
	return info, nil
}

// toolDirs are where a tool may live in an image.
var toolDirs = []string{"usr/local/sbin", "usr/local/bin", "usr/sbin", "usr/bin", "sbin", "bin", "opt/conda/bin"}

// pythonDirs are where a python3 module may be installed.
var pythonDirs = []string{"usr/lib/python3*/dist-packages", "usr/lib/python3/dist-packages", "usr/local/lib/python3*/site-packages", "usr/lib/python3*/site-packages"}

// osReleases are where os-release may be, in the order read.
var osReleases = []string{"etc/os-release", "usr/lib/os-release"}

// tree is what the stacked layers hold of the paths read here: each kept
// path with its symlink target ("" for none) and, for os-release, content.
type tree struct {
	paths   map[string]string
	content map[string][]byte
}

func newTree() *tree { return &tree{paths: map[string]string{}, content: map[string][]byte{}} }

// kept reports whether p (clean, relative) is one this walk needs: a
// directory's entries where tools live, the first level below a python
// packages directory, the directories themselves (they may be symlinks,
// as /bin is on a merged-/usr system), and os-release.
func kept(p string) bool {
	for _, r := range osReleases {
		if p == r {
			return true
		}
	}
	for _, d := range toolDirs {
		if p == d || path.Dir(p) == d {
			return true
		}
	}
	for _, pattern := range pythonDirs {
		if ok, _ := path.Match(pattern, p); ok {
			return true
		}
		if ok, _ := path.Match(pattern, path.Dir(p)); ok {
			return true
		}
	}
	return false
}

// apply reads one layer's tar stream: its whiteouts remove what lower
// layers had, its entries are added.
func (t *tree) apply(r io.Reader) error {
	tr := tar.NewReader(r)
	added := map[string]bool{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		p := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		dir, base := path.Split(p)
		dir = strings.TrimSuffix(dir, "/")
		switch {
		case base == ".wh..wh..opq":
			t.remove(dir, added, false)
			continue
		case strings.HasPrefix(base, ".wh."):
			t.remove(path.Join(dir, strings.TrimPrefix(base, ".wh.")), added, true)
			continue
		}
		if !kept(p) {
			continue
		}
		added[p] = true
		// What replaces p replaces what lower layers had there: its old
		// content, and, unless it is a directory again, what was below it.
		delete(t.content, p)
		if h.Typeflag != tar.TypeDir {
			t.remove(p, added, false)
		}
		switch h.Typeflag {
		case tar.TypeSymlink:
			t.paths[p] = h.Linkname
		case tar.TypeLink:
			t.paths[p] = ""
			if c, ok := t.content[strings.TrimPrefix(path.Clean("/"+h.Linkname), "/")]; ok {
				t.content[p] = c
			}
		default:
			t.paths[p] = ""
			if h.Typeflag == tar.TypeReg && h.Size < 64<<10 && (p == osReleases[0] || p == osReleases[1]) {
				b, err := io.ReadAll(tr)
				if err != nil {
					return err
				}
				t.content[p] = b
			}
		}
	}
}

// remove deletes p and what is below it (only below it for an opaque
// directory), except what this same layer added.
func (t *tree) remove(p string, added map[string]bool, self bool) {
	for q := range t.paths {
		if added[q] {
			continue
		}
		if (self && q == p) || strings.HasPrefix(q, p+"/") || p == "" {
			delete(t.paths, q)
			delete(t.content, q)
		}
	}
}

// maxLinks is how many symlinks one lookup follows, as Linux allows; a
// loop or a chain longer than this is not found.
const maxLinks = 40

// walk finds p in the image the way a lookup in its root would: each
// directory on the way that is a symlink is followed (absolute targets
// from the image's root, ".." never above it), and p itself too when
// followLast. It returns the path reached and whether it exists. The
// symlinks followed are counted for the whole lookup, so no image can
// make it loop.
func (t *tree) walk(p string, followLast bool) (string, bool) {
	parts := strings.Split(p, "/")
	cur := ""
	links := 0
	for i := 0; i < len(parts); i++ {
		part := parts[i]
		switch part {
		case "", ".":
			continue
		case "..":
			if cur = path.Dir(cur); cur == "." {
				cur = ""
			}
			continue
		}
		next := path.Join(cur, part)
		target, ok := t.paths[next]
		if !ok || target == "" || (i == len(parts)-1 && !followLast) {
			cur = next
			continue
		}
		if links++; links > maxLinks {
			return "", false
		}
		from := cur
		if path.IsAbs(target) {
			from = ""
		}
		rest := path.Join(append([]string{"/", from, target}, parts[i+1:]...)...)
		parts, cur, i = strings.Split(strings.TrimPrefix(rest, "/"), "/"), "", -1
	}
	_, ok := t.paths[cur]
	return cur, ok
}

// present reports whether p exists in the image: a file, a directory, or
// a symlink (dangling or not, as Lstat sees it).
func (t *tree) present(p string) bool {
	_, ok := t.walk(p, false)
	return ok
}

func (t *tree) hasTool(name string) bool {
	for _, d := range toolDirs {
		if t.present(path.Join(d, name)) {
			return true
		}
	}
	return false
}

// hasPythonModule reports whether a python packages directory holds module.
func (t *tree) hasPythonModule(module string) bool {
	for p := range t.paths {
		if path.Base(p) != module {
			continue
		}
		for _, pattern := range pythonDirs {
			if ok, _ := path.Match(pattern, path.Dir(p)); ok {
				return true
			}
		}
	}
	return false
}

// prettyName reads PRETTY_NAME from the image's os-release.
func (t *tree) prettyName() string {
	for _, p := range osReleases {
		real, ok := t.walk(p, true)
		if !ok {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(t.content[real]))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
				return strings.Trim(v, `"'`)
			}
		}
	}
	return ""
}
