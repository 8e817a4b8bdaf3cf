package engine

import (
	"context"
	"fmt"
	"imagebuilder/builder/registry"
	"io"
	"strings"

	"go.podman.io/buildah"
	is "go.podman.io/image/v5/storage"
)

// BaseImageConfig is the image configuration given to an imported rootfs.
type BaseImageConfig struct {
	Cmd  []string
	Env  []string
	Arch string
}

// ImportRootfs turns a root filesystem tarball into an image tagged target
// (host/name:tag), then pushes it to reg. It is how base images reach a
// registry on a machine without access to Docker Hub.
func (e *Engine) ImportRootfs(ctx context.Context, rootfsTar, target string, cfg BaseImageConfig, reg registry.Target, log io.Writer) (BuildResult, error) {
	if log == nil {
		log = io.Discard
	}
	b, err := buildah.NewBuilder(ctx, e.store, e.builderOptions("scratch", e.systemContext()))
	if err != nil {
		return BuildResult{}, fmt.Errorf("new working container: %w", err)
	}
	defer func() { _ = b.Delete() }()
	if err := b.Add("/", true, buildah.AddAndCopyOptions{}, rootfsTar); err != nil {
		return BuildResult{}, fmt.Errorf("add %s: %w", rootfsTar, err)
	}
	b.SetOS("linux")
	arch := cfg.Arch
	if arch == "" {
		arch = "amd64"
	}
	b.SetArchitecture(arch)
	for _, kv := range cfg.Env {
		k, v, _ := strings.Cut(kv, "=")
		b.SetEnv(k, v)
	}
	if len(cfg.Cmd) > 0 {
		b.SetCmd(cfg.Cmd)
	}
	ref, err := is.Transport.ParseStoreReference(e.store, target)
	if err != nil {
		return BuildResult{}, fmt.Errorf("local name %q: %w", target, err)
	}
	id, _, _, err := b.Commit(ctx, ref, buildah.CommitOptions{
		SignaturePolicyPath:   e.policyPath,
		SystemContext:         e.systemContext(),
		PreferredManifestType: "application/vnd.oci.image.manifest.v1+json",
		ReportWriter:          log,
	})
	if err != nil {
		return BuildResult{}, fmt.Errorf("commit %s: %w", target, err)
	}
	res, err := e.Push(ctx, id, target, reg, log)
	if err != nil {
		return BuildResult{}, err
	}
	res.ImageID = id
	return res, nil
}
