// Command small is the smallest of the binaries Buildah's re-executions of
// Image Builder run (see package slimexec): only Buildah's copier and
// containers/storage's archive commands, which start about six times for
// every RUN step, without the rest of Buildah (about 14 ms per start
// instead of about 30 ms for the helper).
package main

import (
	"fmt"
	"os"

	_ "go.podman.io/buildah/copier"
	_ "go.podman.io/storage/pkg/chrootarchive"
	"go.podman.io/storage/pkg/reexec"
)

func init() {
	// The probe says which binary answered.
	reexec.Register("imagebuilder-slimexec-probe-small", func() { fmt.Println("small") })
}

func main() {
	if reexec.Init() {
		return
	}
	fmt.Fprintln(os.Stderr, "this is Image Builder's small re-exec helper; the imagebuilder binary runs it")
	os.Exit(2)
}
