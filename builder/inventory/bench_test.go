package inventory

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"go.podman.io/image/v5/pkg/compression"
)

// pythonRootfs makes a root filesystem with n Python distributions in a
// site-packages directory, each with its METADATA, RECORD and three modules,
// as a directory and as a gzipped layer tarball.
func pythonRootfs(b *testing.B, n int) (dir string, layerGz []byte) {
	b.Helper()
	dir = b.TempDir()
	var raw bytes.Buffer
	gz := gzip.NewWriter(&raw)
	tw := tar.NewWriter(gz)
	add := func(p, body string) {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			b.Fatal(err)
		}
		if err := tw.WriteHeader(&tar.Header{Name: p, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			b.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			b.Fatal(err)
		}
	}
	site := "usr/local/lib/python3.11/site-packages"
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("package_%04d", i)
		meta := fmt.Sprintf("Metadata-Version: 2.1\nName: %s\nVersion: 1.%d.0\nSummary: bench package\nRequires-Dist: other>=1\n\n%s\n", name, i%50, bytes.Repeat([]byte("A long description. "), 50))
		add(fmt.Sprintf("%s/%s-1.%d.0.dist-info/METADATA", site, name, i%50), meta)
		add(fmt.Sprintf("%s/%s-1.%d.0.dist-info/RECORD", site, name, i%50), name+"/__init__.py,,\n")
		for _, m := range []string{"__init__", "core", "util"} {
			add(fmt.Sprintf("%s/%s/%s.py", site, name, m), "def f():\n    return 1\n")
		}
	}
	if err := tw.Close(); err != nil {
		b.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		b.Fatal(err)
	}
	return dir, raw.Bytes()
}

// BenchmarkInventoryPython5000 reads the inventory of a root filesystem
// holding 5,000 Python distributions (25,000 files): walking the directory,
// and reading it as an image layer (decompress, tar, merge) as ScanImage
// does. Target: under 5 s.
func BenchmarkInventoryPython5000(b *testing.B) {
	dir, layerGz := pythonRootfs(b, 5000)
	b.Run("directory", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			inv, err := ScanDir(context.Background(), dir)
			if err != nil || len(inv.Packages) != 5000 {
				b.Fatalf("%d packages (%v)", len(inv.Packages), err)
			}
		}
	})
	b.Run("layer", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			plain, _, err := compression.AutoDecompress(bytes.NewReader(layerGz))
			if err != nil {
				b.Fatal(err)
			}
			l, err := readTar(plain)
			plain.Close()
			if err != nil {
				b.Fatal(err)
			}
			if inv := merge([]layer{l}).inventory(); len(inv.Packages) != 5000 {
				b.Fatalf("%d packages", len(inv.Packages))
			}
		}
	})
}
