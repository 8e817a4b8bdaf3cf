package engine

import (
	"context"
	"fmt"
	"io"
	"strings"

	"go.podman.io/buildah"
	"go.podman.io/image/v5/transports/alltransports"

	"imagebuilder/builder/registry"
)

// WorkerBinary is where the worker image holds the imagebuilder binary.
const WorkerBinary = "/usr/local/bin/imagebuilder"

// WorkerImage makes the image that Kubernetes build pods run: base (an
// image in a registry, e.g. the Debian base) with binary added as
// WorkerBinary. dest is where it goes: host/name:tag is pushed to reg;
// a transport reference such as docker-archive:/tmp/w.tar:name:tag or
// oci-archive:/tmp/w.tar is written there. It returns the reference made.
func (e *Engine) WorkerImage(ctx context.Context, base, binary, dest string, reg registry.Target, log io.Writer) (string, error) {
	if log == nil {
		log = io.Discard
	}
	sys := e.systemContext()
	b, err := buildah.NewBuilder(ctx, e.store, e.builderOptions(base, sys))
	if err != nil {
		return "", fmt.Errorf("worker image: from %s: %w", base, err)
	}
	defer func() { _ = b.Delete() }()
	if err := b.Add(WorkerBinary, false, buildah.AddAndCopyOptions{Chmod: "0755"}, binary); err != nil {
		return "", fmt.Errorf("worker image: add %s: %w", binary, err)
	}
	b.SetEntrypoint([]string{WorkerBinary})
	b.SetCmd([]string{"worker"})
	b.SetLabel("org.opencontainers.image.title", "Image Builder worker")
	opts := buildah.CommitOptions{
		SignaturePolicyPath:   e.policyPath,
		SystemContext:         sys,
		PreferredManifestType: "application/vnd.oci.image.manifest.v1+json",
		ReportWriter:          log,
	}
	if transport, _, ok := strings.Cut(dest, ":"); ok && alltransports.TransportFromImageName(dest) != nil && transport != "docker" {
		ref, err := alltransports.ParseImageName(dest)
		if err != nil {
			return "", fmt.Errorf("worker image: destination %q: %w", dest, err)
		}
		if _, _, _, err := b.Commit(ctx, ref, opts); err != nil {
			return "", fmt.Errorf("worker image: write %s: %w", dest, err)
		}
		return dest, nil
	}
	dest = strings.TrimPrefix(dest, "docker://")
	id, _, _, err := b.Commit(ctx, nil, opts)
	if err != nil {
		return "", fmt.Errorf("worker image: commit: %w", err)
	}
	res, err := e.Push(ctx, id, dest, reg, log)
	if err != nil {
		return "", fmt.Errorf("worker image: %w", err)
	}
	return res.Image + "@" + res.Digest, nil
}
