package engine

// Pushing a built image, and the host network builds use.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"go.podman.io/buildah"
	nettypes "go.podman.io/common/libnetwork/types"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/types"
	"go.podman.io/storage/pkg/archive"

	"imagebuilder/builder/executor"
	"imagebuilder/builder/registry"
	"imagebuilder/builder/registry/images"
)

// Push copies the local image (by ID or name) to target on reg and returns
// what the registry holds.
func (e *Engine) Push(ctx context.Context, image, target string, reg registry.Target, log io.Writer) (BuildResult, error) {
	dest, err := docker.ParseReference("//" + target)
	if err != nil {
		return BuildResult{}, fmt.Errorf("push destination %q: %w", target, err)
	}
	sys := e.pushContext(reg)
	_, dig, err := buildah.Push(ctx, image, dest, buildah.PushOptions{
		Store:               e.store,
		SystemContext:       sys,
		SignaturePolicyPath: e.policyPath,
		ReportWriter:        log,
		Compression:         archive.Gzip,
		MaxRetries:          2,
		RetryDelay:          time.Second,
	})
	if err != nil {
		if ctx.Err() != nil {
			return BuildResult{}, fmt.Errorf("%w: %v", executor.ErrCancelled, context.Cause(ctx))
		}
		if images.IsAuthError(err) {
			return BuildResult{}, &executor.AuthError{Push: true, Err: fmt.Errorf("push %s: %w", target, err)}
		}
		return BuildResult{}, fmt.Errorf("push %s: %w", target, err)
	}
	size, err := images.Size(ctx, target, sys)
	if err != nil {
		return BuildResult{}, fmt.Errorf("inspect pushed %s: %w", target, err)
	}
	return BuildResult{Image: target, Digest: dig.String(), Size: size}, nil
}

func (e *Engine) pushContext(reg registry.Target) *types.SystemContext {
	sys := e.systemContext()
	host := reg.Host
	if i := strings.IndexByte(host, '/'); i >= 0 {
		host = host[:i]
	}
	if reg.Insecure || e.isInsecure(host) {
		sys.DockerInsecureSkipTLSVerify = types.OptionalBoolTrue
	}
	if reg.Username != "" || reg.Password != "" {
		sys.DockerAuthConfig = &types.DockerAuthConfig{Username: reg.Username, Password: reg.Password}
	}
	return sys
}

// hostNetwork satisfies buildah's network interface. Builds share the host
// network namespace, so none of these is called for them; a nil interface
// makes buildah fail looking for netavark.
type hostNetwork struct{}

var errNoNetworks = errors.New("Image Builder builds use the host network; container networks are not supported")

func (hostNetwork) NetworkCreate(nettypes.Network, *nettypes.NetworkCreateOptions) (nettypes.Network, error) {
	return nettypes.Network{}, errNoNetworks
}
func (hostNetwork) NetworkUpdate(string, nettypes.NetworkUpdateOptions) error { return errNoNetworks }
func (hostNetwork) NetworkRemove(string) error                                { return errNoNetworks }
func (hostNetwork) NetworkList(...nettypes.FilterFunc) ([]nettypes.Network, error) {
	return nil, nil
}
func (hostNetwork) NetworkInspect(string) (nettypes.Network, error) {
	return nettypes.Network{}, errNoNetworks
}
func (hostNetwork) Setup(string, nettypes.SetupOptions) (map[string]nettypes.StatusBlock, error) {
	return nil, errNoNetworks
}
func (hostNetwork) Teardown(string, nettypes.TeardownOptions) error { return nil }
func (hostNetwork) RunInRootlessNetns(func() error) error           { return errNoNetworks }
func (hostNetwork) RootlessNetnsInfo() (*nettypes.RootlessNetnsInfo, error) {
	return nil, errNoNetworks
}
func (hostNetwork) Drivers() []string          { return nil }
func (hostNetwork) DefaultNetworkName() string { return "host" }
func (hostNetwork) NetworkInfo() nettypes.NetworkInfo {
	return nettypes.NetworkInfo{Backend: "none"}
}
