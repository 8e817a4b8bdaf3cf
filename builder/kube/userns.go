package kube

// A build pod that is not privileged: Buildah's mounts (the layer store's
// overlay, the chroot's /proc, /dev and /sys) need CAP_SYS_ADMIN, which
// such a pod lacks. The worker then runs itself again in a user namespace
// of its own, with the pod's ID mapping (root stays root, files keep their
// owners), where it holds every capability over its own mounts and none
// over the node. What the cluster must allow for that: the unshare system
// call (a seccomp profile that permits it: the kubelet's default when its
// seccompDefault is off, or a Localhost profile) and CAP_SETUID/CAP_SETGID,
// which the container runtime grants by default.

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"

	"go.podman.io/storage/pkg/unshare"
)

// enterUserNamespace runs the worker again in a user namespace when it
// lacks CAP_SYS_ADMIN, and never returns then (the process exits with the
// inner worker's status). It returns nil when the worker may build here,
// or why it may not.
func enterUserNamespace(out io.Writer) error {
	if os.Getenv(unshare.UsernsEnvName) != "" {
		return nil // this is the inner worker
	}
	admin, err := unshare.HasCapSysAdmin()
	if err != nil {
		return fmt.Errorf("read the worker's capabilities: %w", err)
	}
	if admin {
		return nil
	}
	uids, gids, err := unshare.GetHostIDMappings("")
	if err != nil {
		return fmt.Errorf("read the pod's ID mappings: %w", err)
	}
	// Try first, so a refusal is the build's reason and not a crash.
	probe := exec.Command("/proc/self/exe", "worker-userns-probe")
	probe.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
		GidMappingsEnableSetgroups: true}
	for _, m := range uids {
		probe.SysProcAttr.UidMappings = append(probe.SysProcAttr.UidMappings, syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.ContainerID), Size: int(m.Size)})
	}
	for _, m := range gids {
		probe.SysProcAttr.GidMappings = append(probe.SysProcAttr.GidMappings, syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.ContainerID), Size: int(m.Size)})
	}
	if b, err := probe.CombinedOutput(); err != nil {
		return fmt.Errorf("%v %s: allow the unshare system call in its seccomp profile (leave seccompProfile unset on a kubelet whose seccompDefault is off, or use a Localhost profile) and keep CAP_SETUID and CAP_SETGID, or run build pods privileged (--kube-privileged)",
			err, bytes.TrimSpace(b))
	}
	fmt.Fprintf(out, "Image Builder worker: the pod is not privileged; building in a user namespace of its own\n")
	unshare.MaybeReexecUsingUserNamespace(false)
	return nil
}
