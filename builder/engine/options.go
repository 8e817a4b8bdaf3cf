package engine

import (
	"io"
	"time"

	"go.podman.io/buildah"
	"go.podman.io/buildah/define"
	"go.podman.io/image/v5/types"
)

// Every Buildah call of the engine takes its options from here, so none can
// forget what every build needs on a machine without Podman's helpers:
// the host network (with a non-nil network interface, else Buildah looks
// for netavark), chroot isolation (no OCI runtime), and the host's ulimits
// (else RUN fails setting rlimits).

// hostNamespaces shares the host's network namespace with build steps.
func hostNamespaces() define.NamespaceOptions {
	return define.NamespaceOptions{{Name: "network", Host: true}}
}

// builderOptions is for working containers made directly (base-image
// import): from is an image reference or "scratch".
func (e *Engine) builderOptions(from string, sys *types.SystemContext) buildah.BuilderOptions {
	return buildah.BuilderOptions{
		FromImage:        from,
		SystemContext:    sys,
		Isolation:        define.IsolationChroot,
		NamespaceOptions: hostNamespaces(),
		ConfigureNetwork: define.NetworkEnabled,
		NetworkInterface: hostNetwork{},
		CommonBuildOpts:  &define.CommonBuildOptions{Ulimit: e.ulimits},
	}
}

// buildOptions is for Containerfile builds in the context directory work,
// tagged locally as target, logging to log.
func (e *Engine) buildOptions(work, target string, sys *types.SystemContext, log io.Writer) define.BuildOptions {
	return define.BuildOptions{
		ContextDirectory:        work,
		PullPolicy:              define.PullIfNewer,
		Isolation:               define.IsolationChroot,
		Layers:                  true,
		RemoveIntermediateCtrs:  true,
		ForceRmIntermediateCtrs: true,
		Output:                  target,
		OutputFormat:            define.OCIv1ImageManifest,
		Out:                     log,
		Err:                     log,
		ReportWriter:            log,
		SystemContext:           sys,
		CommonBuildOpts:         &define.CommonBuildOptions{Ulimit: e.ulimits},
		NamespaceOptions:        hostNamespaces(),
		ConfigureNetwork:        define.NetworkEnabled,
		NetworkInterface:        hostNetwork{},
		MaxPullPushRetries:      2,
		PullPushRetryDelay:      time.Second,
	}
}
