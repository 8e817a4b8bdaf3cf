package engine

import (
	"bufio"
	"context"
	"fmt"
	"imagebuilder/builder/executor"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	"go.podman.io/buildah"
	"go.podman.io/buildah/define"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/manifest"
	"go.podman.io/image/v5/types"

	"imagebuilder/builder/registry"
)

// inspectCache keeps registry.BaseInfo by digest: an image is inspected once.
type inspectCache struct {
	mu sync.Mutex
	m  map[string]registry.BaseInfo
}

// toolPaths are where a tool may live in an image.
var toolPaths = []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin", "/opt/conda/bin"}

// InspectBase resolves a base image reference (pulling with pullSecret,
// a Docker config JSON, when given) and says what it offers. An image
// that cannot be pulled gives an *executor.AuthError for refused
// credentials, or the registry's error.
func (e *Engine) InspectBase(ctx context.Context, ref string, pullSecret []byte) (registry.BaseInfo, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return registry.BaseInfo{}, fmt.Errorf("base image %q: %w", ref, err)
	}
	sys, done, err := e.pullContext(named, pullSecret)
	if err != nil {
		return registry.BaseInfo{}, err
	}
	defer done()
	dig, err := e.resolve(ctx, named, sys)
	if err != nil {
		return registry.BaseInfo{}, err
	}
	e.inspected.mu.Lock()
	info, ok := e.inspected.m[dig.String()]
	e.inspected.mu.Unlock()
	if ok {
		return info, nil
	}
	opts := e.builderOptions(pullable(named).String(), sys)
	opts.PullPolicy = define.PullIfMissing
	opts.ContainerSuffix = buildContainerMark + "inspect"
	b, err := buildah.NewBuilder(ctx, e.store, opts)
	if err != nil {
		if isAuthError(err) {
			return registry.BaseInfo{}, authRefused(err)
		}
		return registry.BaseInfo{}, fmt.Errorf("pull %s: %w", ref, err)
	}
	defer func() { _ = b.Delete() }()
	root, err := b.Mount("")
	if err != nil {
		return registry.BaseInfo{}, fmt.Errorf("mount %s: %w", ref, err)
	}
	defer func() { _ = b.Unmount() }()
	info = registry.BaseInfo{Digest: dig.String(), OS: prettyName(root), Arch: b.Architecture(), User: b.User(), Tools: map[string]bool{}}
	has := func(name string) bool {
		for _, d := range toolPaths {
			if _, err := os.Lstat(filepath.Join(root, d, name)); err == nil {
				return true
			}
		}
		return false
	}
	info.Tools["apt-get"] = has("apt-get")
	info.Tools["python3"] = has("python3")
	info.Tools["pip"] = has("pip3") || has("pip") || hasPythonModule(root, "pip")
	info.Tools["conda"] = has("conda") || has("mamba") || has("micromamba")
	e.inspected.mu.Lock()
	if e.inspected.m == nil {
		e.inspected.m = map[string]registry.BaseInfo{}
	}
	e.inspected.m[dig.String()] = info
	e.inspected.mu.Unlock()
	return info, nil
}

// ResolveBase returns the digest a base image reference names now; a
// registry that does not answer within the registry timeout is an error.
func (e *Engine) ResolveBase(ctx context.Context, ref string, pullSecret []byte) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, e.regTimeout)
	defer cancel()
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", fmt.Errorf("base image %q: %w", ref, err)
	}
	sys, done, err := e.pullContext(named, pullSecret)
	if err != nil {
		return "", err
	}
	defer done()
	dig, err := e.resolve(ctx, named, sys)
	return dig.String(), err
}

// pullContext is the system context for pulling named with pullSecret (a
// Docker config JSON, or nil); done removes its files.
func (e *Engine) pullContext(named reference.Named, pullSecret []byte) (*types.SystemContext, func(), error) {
	sys := e.systemContext()
	done := func() {}
	if len(pullSecret) > 0 {
		work, err := os.MkdirTemp(e.runDir, "inspect-")
		if err != nil {
			return nil, done, err
		}
		done = func() { _ = os.RemoveAll(work) }
		sys.AuthFilePath = filepath.Join(work, "auth.json")
		if err := os.WriteFile(sys.AuthFilePath, pullSecret, 0o600); err != nil {
			done()
			return nil, func() {}, err
		}
	}
	if host := reference.Domain(named); e.isInsecure(host) {
		sys.DockerInsecureSkipTLSVerify = types.OptionalBoolTrue
	}
	return sys, done, nil
}

// resolve fetches named's manifest digest, typing a refusal and a missing
// image.
func (e *Engine) resolve(ctx context.Context, named reference.Named, sys *types.SystemContext) (digest.Digest, error) {
	dref, err := docker.NewReference(pullable(named))
	if err != nil {
		return "", fmt.Errorf("base image %q: %w", named, err)
	}
	dig, err := manifestDigest(ctx, dref, sys)
	if err != nil {
		switch {
		case isAuthError(err):
			return "", authRefused(err)
		case isNotFound(err):
			return "", fmt.Errorf("%w: %s", registry.ErrBaseNotFound, named)
		}
		return "", fmt.Errorf("base image %q: %w", named, err)
	}
	return dig, nil
}

// pullable is named as the image library pulls it: name@digest when it has
// a digest (a pinned base, name:tag@digest, keeps its tag only for people),
// else name:tag, with latest for none.
func pullable(named reference.Named) reference.Named {
	if d, ok := named.(reference.Digested); ok {
		if c, err := reference.WithDigest(reference.TrimNamed(named), d.Digest()); err == nil {
			return c
		}
	}
	return reference.TagNameOnly(named)
}

func authRefused(err error) error {
	return &executor.AuthError{Err: fmt.Errorf("inspect the base image: %w", err)}
}

// prettyName reads PRETTY_NAME from the image's os-release.
func prettyName(root string) string {
	for _, p := range []string{"etc/os-release", "usr/lib/os-release"} {
		f, err := os.Open(filepath.Join(root, p))
		if err != nil {
			continue
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
				return strings.Trim(v, `"'`)
			}
		}
	}
	return ""
}

// hasPythonModule reports whether a python3 dist-packages or site-packages
// directory of the image holds module.
func hasPythonModule(root, module string) bool {
	for _, pattern := range []string{"usr/lib/python3*/dist-packages", "usr/lib/python3/dist-packages", "usr/local/lib/python3*/site-packages", "usr/lib/python3*/site-packages"} {
		dirs, _ := filepath.Glob(filepath.Join(root, pattern))
		for _, d := range dirs {
			if _, err := os.Stat(filepath.Join(d, module)); err == nil {
				return true
			}
		}
	}
	return false
}

// manifestDigest fetches the manifest (a GET, whose errors carry the
// registry's error code, unlike a HEAD's) and returns its digest.
func manifestDigest(ctx context.Context, ref types.ImageReference, sys *types.SystemContext) (digest.Digest, error) {
	src, err := ref.NewImageSource(ctx, sys)
	if err != nil {
		return "", err
	}
	defer src.Close()
	raw, _, err := src.GetManifest(ctx, nil)
	if err != nil {
		return "", err
	}
	return manifest.Digest(raw)
}
