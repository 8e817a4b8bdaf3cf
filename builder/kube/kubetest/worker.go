package kubetest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"imagebuilder/builder/engine/enginetest"
)

// WorkerImageName is the worker image's name in the node's containerd.
const WorkerImageName = "imagebuilder/worker:test"

var (
	workerOnce sync.Once
	workerErr  error
	binOnce    sync.Once
	binPath    string
	binErr     error
)

// Binary builds the imagebuilder command once per test binary and returns
// its path.
func Binary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "imagebuilder-kubetest-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "imagebuilder")
		cmd := exec.Command("go", "build", "-o", binPath, "imagebuilder")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1", "GOFLAGS=-tags=containers_image_openpgp,exclude_graphdriver_btrfs")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = &buildError{out: strings.TrimSpace(string(out)), err: err}
		}
	})
	if binErr != nil {
		t.Fatalf("build the imagebuilder binary: %v", binErr)
	}
	return binPath
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

// WorkerImage makes the worker image the product's way (the Debian base
// plus the binary, engine.WorkerImage) and imports it into the node, once
// per test binary. Pods use it with imagePullPolicy Never.
func (c *Cluster) WorkerImage(t testing.TB, r *enginetest.Rig) string {
	t.Helper()
	workerOnce.Do(func() {
		bin := Binary(t)
		archive := filepath.Join(c.Dir, "worker.tar")
		_, workerErr = r.Engine.WorkerImage(context.Background(), r.Debian(t), bin,
			"docker-archive:"+archive+":"+WorkerImageName, r.Target, nil)
		if workerErr == nil {
			workerErr = c.Import(archive)
			_ = os.Remove(archive)
		}
	})
	if workerErr != nil {
		t.Fatalf("worker image: %v", workerErr)
	}
	return WorkerImageName
}
