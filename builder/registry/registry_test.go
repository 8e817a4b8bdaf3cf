package registry_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"imagebuilder/builder/registry"
)

// A password file the registry cannot read is an error that names the
// flag, not the registry library's panic.
func TestAnUnreadablePasswordFileIsAnError(t *testing.T) {
	_, err := registry.Start(context.Background(), registry.Config{Dir: t.TempDir(), Addr: "127.0.0.1:0",
		HtpasswdPath: filepath.Join(t.TempDir(), "missing")})
	if err == nil || !strings.Contains(err.Error(), "--registry-htpasswd") {
		t.Fatalf("start with a missing password file: %v", err)
	}
}
