package images_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"go.podman.io/image/v5/docker/reference"

	"imagebuilder/builder/engine/enginetest"
	"imagebuilder/builder/executor"
	"imagebuilder/builder/registry"
	"imagebuilder/builder/registry/images"
)

func TestMain(m *testing.M) { enginetest.Main(m) }

// A base image is inspected once per digest: its OS, architecture and
// which package tools it has.
func TestInspectBaseSaysWhatTheImageOffers(t *testing.T) {
	r := enginetest.Get(t)
	ctx := context.Background()
	deb, err := r.Images.InspectBase(ctx, r.Debian(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !deb.Tools["apt-get"] || deb.Tools["conda"] || deb.Tools["pip"] || !strings.Contains(deb.OS, "Debian") || deb.Arch != "amd64" || deb.Digest == "" {
		t.Fatalf("debian: %+v", deb)
	}
	bb, err := r.Images.InspectBase(ctx, r.Busybox(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if bb.Tools["apt-get"] || bb.Tools["python3"] || bb.Tools["conda"] || bb.OS != "" {
		t.Fatalf("busybox: %+v", bb)
	}
	if _, err := r.Images.InspectBase(ctx, r.Target.Host+"/library/no-such-image:1", nil); !errors.Is(err, registry.ErrBaseNotFound) {
		t.Fatalf("a missing image: %v", err)
	}
	if left := r.Leftovers(t); len(left) > 0 {
		t.Fatalf("inspection left:\n%s", strings.Join(left, "\n"))
	}
}

// The embedded registry, when it asks for a password, is read with its own
// credentials (registry.Target.Own): a base image in it resolves and is
// inspected with no pull secret; a client that is not told whose registry
// it is gets a typed refusal. Retag and Inventory work there too.
func TestTheOwnPasswordProtectedRegistryIsReadWithItsCredentials(t *testing.T) {
	r := enginetest.Get(t)
	ctx := context.Background()
	dir := t.TempDir()
	reg := enginetest.PasswordRegistry(t, "builder", "s3cret")
	own := registry.Target{Host: reg.Host(), Username: "builder", Password: "s3cret", Insecure: true, Own: true}
	debian := r.Debian(t)
	dig, err := r.Images.ResolveBase(ctx, debian, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Copy the Debian base into the protected registry, then read it.
	base := reg.Host() + "/library/debian:bookworm"
	client, err := images.New(images.Config{Dir: filepath.Join(dir, "own"), Own: own})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.SetInsecureRegistries(r.Server.Host(), reg.Host()); err != nil {
		t.Fatal(err)
	}
	named, err := reference.ParseNormalizedNamed(debian)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Retag(ctx, own, reference.TrimNamed(named).String()+"@"+dig, base, nil); err != nil {
		t.Fatal(err)
	}
	got, err := client.ResolveBase(ctx, base, nil)
	if err != nil || got != dig {
		t.Fatalf("resolve %s with the own credentials: %q, %v (want %s)", base, got, err, dig)
	}
	info, err := client.InspectBase(ctx, base, nil)
	if err != nil || !info.Tools["apt-get"] || info.Digest != dig {
		t.Fatalf("inspect %s: %+v, %v", base, info, err)
	}
	size, err := client.Retag(ctx, own, reg.Host()+"/library/debian@"+dig, reg.Host()+"/library/debian:again", nil)
	if err != nil || size <= 0 {
		t.Fatalf("retag in the protected registry: %d, %v", size, err)
	}
	inv, err := client.Inventory(ctx, own, reg.Host()+"/library/debian@"+dig)
	if err != nil || inv.DistroID != "debian" || len(inv.Packages) < 50 {
		t.Fatalf("inventory: %s %d packages, %v", inv.DistroID, len(inv.Packages), err)
	}

	stranger, err := images.New(images.Config{Dir: filepath.Join(dir, "stranger")})
	if err != nil {
		t.Fatal(err)
	}
	if err := stranger.SetInsecureRegistries(reg.Host()); err != nil {
		t.Fatal(err)
	}
	var auth *executor.AuthError
	if _, err := stranger.ResolveBase(ctx, base, nil); !errors.As(err, &auth) {
		t.Fatalf("without the credentials: %v, want an AuthError", err)
	}
	if left := r.Leftovers(t); len(left) > 0 {
		t.Fatalf("left behind:\n%s", strings.Join(left, "\n"))
	}
}
