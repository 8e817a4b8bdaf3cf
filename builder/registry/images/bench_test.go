package images_test

import (
	"context"
	"path/filepath"
	"testing"

	"imagebuilder/builder/engine/enginetest"
	"imagebuilder/builder/registry/images"
)

// BenchmarkInspectBaseDebian is the form's base check of the Debian base:
// cold (a client that never read it: every layer is read from the
// registry) and known (the digest was read before: one manifest lookup).
// Target: cold under 2 s, known under 50 ms.
func BenchmarkInspectBaseDebian(b *testing.B) {
	r := enginetest.Get(b)
	debian := r.Debian(b)
	ctx := context.Background()
	b.Run("cold", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			c, err := images.New(images.Config{Dir: filepath.Join(b.TempDir(), "images"), Own: r.Target})
			if err != nil {
				b.Fatal(err)
			}
			if err := c.SetInsecureRegistries(r.Server.Host()); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if info, err := c.InspectBase(ctx, debian, nil); err != nil || !info.Tools["apt-get"] {
				b.Fatalf("%+v %v", info, err)
			}
		}
	})
	b.Run("known", func(b *testing.B) {
		if _, err := r.Images.InspectBase(ctx, debian, nil); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := r.Images.InspectBase(ctx, debian, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}
