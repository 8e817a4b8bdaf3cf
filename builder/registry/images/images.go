// Package images reads and tags images that are already in a registry:
// it resolves a reference to its digest, tags a digest again, measures an
// image, reads its layers for the inventory and says what a base image
// offers. It speaks to registries only (containers/image's docker
// transport): it opens no image store, mounts nothing and needs no
// privileges, so a portal whose builds run elsewhere (Kubernetes) keeps no
// Buildah storage at all. Builds themselves belong to the executors.
package images

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/docker/distribution/registry/api/errcode"
	v2 "github.com/docker/distribution/registry/api/v2"
	"github.com/opencontainers/go-digest"
	imagecopy "go.podman.io/image/v5/copy"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/manifest"
	"go.podman.io/image/v5/signature"
	"go.podman.io/image/v5/types"
	"golang.org/x/sync/singleflight"

	"imagebuilder/builder/executor"
	"imagebuilder/builder/inventory"
	"imagebuilder/builder/registry"
)

// Config says where the client keeps its few files.
type Config struct {
	// Dir holds the client's registries.conf, its blob info cache and its
	// scratch space (created 0700; New empties the scratch space, which
	// holds a pull secret only while a call uses it).
	Dir string
	// Timeout is how long a registry may take to answer a lookup before it
	// is given up (default 15 s).
	Timeout time.Duration
	// Own is the portal's embedded registry: its credentials also read its
	// own images (see registry.Target.Own). Zero for none.
	Own registry.Target
}

// Client reads and tags images in registries; safe for concurrent use.
type Client struct {
	dir, scratch string
	timeout      time.Duration
	own          registry.Target
	scanner      *inventory.Scanner

	insecure *Insecure

	mu      sync.Mutex
	bases   map[string]registry.BaseInfo // by manifest digest: a base is read once
	reading singleflight.Group           // bases being read, by digest
}

// New makes cfg.Dir and returns a client that reaches cfg.Own's host (when
// it is insecure) without TLS.
func New(cfg Config) (*Client, error) {
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, err
	}
	c := &Client{dir: dir, scratch: filepath.Join(dir, "tmp"),
		timeout: cfg.Timeout, own: cfg.Own, scanner: inventory.NewScanner(), bases: map[string]registry.BaseInfo{}}
	if c.timeout <= 0 {
		c.timeout = 15 * time.Second
	}
	// What a crash left in the scratch space (a pull secret's file among
	// it) goes.
	if err := os.RemoveAll(c.scratch); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.scratch, 0o700); err != nil {
		return nil, err
	}
	var hosts []string
	if cfg.Own.Insecure && cfg.Own.Host != "" {
		hosts = append(hosts, registry.HostOnly(cfg.Own.Host))
	}
	if c.insecure, err = NewInsecure(filepath.Join(dir, "registries.conf"), hosts...); err != nil {
		return nil, err
	}
	return c, nil
}

// SetInsecureRegistries replaces the hosts reached over plain HTTP or
// without TLS verification.
func (c *Client) SetInsecureRegistries(hosts ...string) error { return c.insecure.Set(hosts...) }

// RegistriesConf is a registries.conf that searches no registry for
// unqualified names, redirects nothing, and reaches insecure (host[:port])
// without TLS. The engine's builds use the same.
func RegistriesConf(insecure []string) string {
	var b strings.Builder
	b.WriteString("# Written by Image Builder. Unqualified names are not searched anywhere.\nunqualified-search-registries = []\nshort-name-mode = \"disabled\"\n")
	for _, h := range insecure {
		fmt.Fprintf(&b, "\n[[registry]]\nlocation = %q\ninsecure = true\n", h)
	}
	return b.String()
}

// system is the context for reaching host, with the credentials of reg
// (when it is that host's registry) and never the machine's own.
func (c *Client) system(host string, reg registry.Target) *types.SystemContext {
	sys := &types.SystemContext{
		SystemRegistriesConfPath:    c.insecure.Path(),
		SystemRegistriesConfDirPath: filepath.Join(c.dir, "registries.conf.d"),
		// Signature lookaside settings: none (and not the user's home, which
		// an unprivileged portal may not read).
		RegistriesDirPath:    filepath.Join(c.dir, "registries.d"),
		AuthFilePath:         filepath.Join(c.dir, "no-auth.json"),
		BigFilesTemporaryDir: c.scratch,
		// Which blobs a registry has, for a retag: kept here, not in
		// /var/lib/containers or the user's home.
		BlobInfoCacheDir: filepath.Join(c.dir, "blob-info-cache"),
	}
	if reg.Insecure || c.insecure.Has(host) {
		sys.DockerInsecureSkipTLSVerify = types.OptionalBoolTrue
	}
	if reg.Host != "" && domainOf(reg.Host) == host && (reg.Username != "" || reg.Password != "") {
		sys.DockerAuthConfig = &types.DockerAuthConfig{Username: reg.Username, Password: reg.Password}
	}
	return sys
}

// domainOf is the registry domain of a host[:port][/prefix] as image
// references name it (index.docker.io is docker.io).
func domainOf(host string) string {
	if named, err := reference.ParseNormalizedNamed(host + "/x"); err == nil {
		return reference.Domain(named)
	}
	return registry.HostOnly(host)
}

// pullContext is the context for reading a base image named with
// pullSecret (a Docker config JSON, or nil), to which the embedded
// registry's own credentials are added for its own images; done removes
// the secret's file.
func (c *Client) pullContext(named reference.Named, pullSecret []byte) (*types.SystemContext, func(), error) {
	sys := c.system(reference.Domain(named), registry.Target{})
	done := func() {}
	// The embedded registry's own credentials, for its own images, stay
	// in memory (a pull secret with its own entry for it wins).
	if withOwn := registry.WithOwnAuth(pullSecret, named.String(), c.own); !bytes.Equal(withOwn, pullSecret) {
		sys.DockerAuthConfig = &types.DockerAuthConfig{Username: c.own.Username, Password: c.own.Password}
		return sys, done, nil
	}
	if len(pullSecret) == 0 {
		return sys, done, nil
	}
	// containers/image reads a Docker config JSON from a file only: it
	// lives 0600 under the client's scratch directory for this one call,
	// and New removes what a crash left.
	work, err := os.MkdirTemp(c.scratch, "auth-")
	if err != nil {
		return nil, done, err
	}
	done = func() { _ = os.RemoveAll(work) }
	sys.AuthFilePath = filepath.Join(work, "auth.json")
	if err := os.WriteFile(sys.AuthFilePath, pullSecret, 0o600); err != nil {
		done()
		return nil, func() {}, err
	}
	return sys, done, nil
}

// ResolveBase returns the digest a base image reference names now; a
// registry that does not answer within the timeout is an error.
func (c *Client) ResolveBase(ctx context.Context, ref string, pullSecret []byte) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", fmt.Errorf("base image %q: %w", ref, err)
	}
	sys, done, err := c.pullContext(named, pullSecret)
	if err != nil {
		return "", err
	}
	defer done()
	dig, err := resolve(ctx, named, sys)
	return dig.String(), err
}

// resolve fetches named's manifest digest, typing a refusal and a missing
// image.
func resolve(ctx context.Context, named reference.Named, sys *types.SystemContext) (digest.Digest, error) {
	dref, err := docker.NewReference(Pullable(named))
	if err != nil {
		return "", fmt.Errorf("base image %q: %w", named, err)
	}
	src, err := dref.NewImageSource(ctx, sys)
	if err == nil {
		defer src.Close()
		// A GET, whose errors carry the registry's error code, unlike a
		// HEAD's.
		var raw []byte
		if raw, _, err = src.GetManifest(ctx, nil); err == nil {
			return manifest.Digest(raw)
		}
	}
	switch {
	case IsAuthError(err):
		return "", &executor.AuthError{Err: fmt.Errorf("inspect the base image: %w", err)}
	case IsNotFound(err):
		return "", fmt.Errorf("%w: %s", registry.ErrBaseNotFound, named)
	}
	return "", fmt.Errorf("base image %q: %w", named, err)
}

// Pullable is named as the image library pulls it: name@digest when it has
// a digest (a pinned base, name:tag@digest, keeps its tag only for people),
// else name:tag, with latest for none.
func Pullable(named reference.Named) reference.Named {
	if d, ok := named.(reference.Digested); ok {
		if c, err := reference.WithDigest(reference.TrimNamed(named), d.Digest()); err == nil {
			return c
		}
	}
	return reference.TagNameOnly(named)
}

// Retag gives an image already in the registry another tag: from is
// host/name@digest, to host/name:tag, both on reg. Nothing is built; blobs
// the destination has are not uploaded again (a tag in the same
// repository moves only the manifest). It returns the image's compressed
// size.
func (c *Client) Retag(ctx context.Context, reg registry.Target, from, to string, log io.Writer) (int64, error) {
	// A manifest and a few blob checks: a registry that takes longer is
	// left to the build, which says what is wrong with it.
	ctx, cancel := context.WithTimeout(ctx, 4*c.timeout)
	defer cancel()
	src, err := docker.ParseReference("//" + from)
	if err != nil {
		return 0, fmt.Errorf("image %q: %w", from, err)
	}
	dst, err := docker.ParseReference("//" + to)
	if err != nil {
		return 0, fmt.Errorf("image %q: %w", to, err)
	}
	// Which images may be read is the administrator's choice; signatures
	// are not required (as for builds).
	pc, err := signature.NewPolicyContext(&signature.Policy{Default: signature.PolicyRequirements{signature.NewPRInsecureAcceptAnything()}})
	if err != nil {
		return 0, err
	}
	defer func() { _ = pc.Destroy() }()
	sys := c.system(domainOf(reg.Host), reg)
	if log == nil {
		log = io.Discard
	}
	// Signatures are neither read nor copied: builds sign nothing, and
	// reading them would look in a lookaside store outside the data
	// directory (the user's home, which an unprivileged portal cannot read).
	if _, err := imagecopy.Image(ctx, pc, dst, src, &imagecopy.Options{SourceCtx: sys, DestinationCtx: sys, ReportWriter: log,
		ImageListSelection: imagecopy.CopySystemImage, RemoveSignatures: true}); err != nil {
		return 0, fmt.Errorf("tag %s as %s: %w", from, to, err)
	}
	return Size(ctx, to, sys)
}

// Size is the compressed size of target (host/name:tag or @digest) in its
// registry: its manifest, config and layers.
func Size(ctx context.Context, target string, sys *types.SystemContext) (int64, error) {
	ref, err := docker.ParseReference("//" + target)
	if err != nil {
		return 0, err
	}
	src, err := ref.NewImageSource(ctx, sys)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	raw, mt, err := src.GetManifest(ctx, nil)
	if err != nil {
		return 0, err
	}
	m, err := manifest.FromBlob(raw, mt)
	if err != nil {
		return 0, err
	}
	size := int64(len(raw)) + m.ConfigInfo().Size
	for _, l := range m.LayerInfos() {
		size += l.Size
	}
	return size, nil
}

// Inventory reads what the image ref (host/name@digest on reg) holds, from
// the registry: whatever built it, Buildah here or a build pod.
func (c *Client) Inventory(ctx context.Context, reg registry.Target, ref string) (inventory.Inventory, error) {
	dref, err := docker.ParseReference("//" + ref)
	if err != nil {
		return inventory.Inventory{}, fmt.Errorf("image %q: %w", ref, err)
	}
	host := reference.Domain(dref.DockerReference())
	sys := c.system(host, reg)
	// A registry that is gone or silent says so within the timeout, rather
	// than holding the job until the read's own bound.
	if err := registry.Probe(ctx, host, sys.DockerInsecureSkipTLSVerify == types.OptionalBoolTrue, c.timeout); err != nil {
		return inventory.Inventory{}, fmt.Errorf("the registry %s: %w", host, err)
	}
	src, err := dref.NewImageSource(ctx, sys)
	if err != nil {
		return inventory.Inventory{}, fmt.Errorf("read %s: %w", ref, err)
	}
	defer src.Close()
	return c.scanner.ScanImage(ctx, src, sys)
}

// IsAuthError reports a registry's refusal for lack of credentials. The
// types come first; some Buildah paths flatten the error to text, which is
// read here, at the libraries' edge, and nowhere else.
func IsAuthError(err error) bool {
	var unauthorized docker.ErrUnauthorizedForCredentials
	if errors.As(err, &unauthorized) {
		return true
	}
	var code errcode.Error
	if errors.As(err, &code) && (code.Code == errcode.ErrorCodeUnauthorized || code.Code == errcode.ErrorCodeDenied) {
		return true
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "authentication required") || strings.Contains(msg, "unauthorized")
}

// IsNotFound reports a registry that does not have the image (or its
// repository); the text is read where Buildah flattened the error.
func IsNotFound(err error) bool {
	var auth *executor.AuthError
	var step *executor.StepError
	if errors.As(err, &auth) || errors.As(err, &step) {
		return false
	}
	var code errcode.Error
	if errors.As(err, &code) && (code.Code == v2.ErrorCodeManifestUnknown || code.Code == v2.ErrorCodeNameUnknown) {
		return true
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "manifest unknown") || strings.Contains(msg, "name unknown") || strings.Contains(msg, "repository name not known")
}
