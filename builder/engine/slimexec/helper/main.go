// Command helper is the slim binary Buildah's re-executions of Image
// Builder run (see package slimexec): the same Buildah, storage and
// step-exit code as the portal, without the portal.
package main

import (
	"fmt"
	"os"

	"go.podman.io/buildah"
	_ "go.podman.io/buildah/chroot"
	_ "go.podman.io/buildah/copier"
	_ "go.podman.io/buildah/pkg/chrootuser"
	_ "go.podman.io/storage/drivers/overlay"
	_ "go.podman.io/storage/pkg/chrootarchive"
	"go.podman.io/storage/pkg/reexec"

	_ "imagebuilder/builder/engine/stepexit"
)

func init() {
	// The probe says which binary answered.
	reexec.Register("imagebuilder-slimexec-probe", func() { fmt.Println("helper") })
}

func main() {
	if buildah.InitReexec() {
		return
	}
	fmt.Fprintln(os.Stderr, "this is Image Builder's re-exec helper; the imagebuilder binary runs it")
	os.Exit(2)
}
