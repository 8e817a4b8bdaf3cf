package inventory

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"go.podman.io/image/v5/image"
	"go.podman.io/image/v5/pkg/blobinfocache/none"
	"go.podman.io/image/v5/pkg/compression"
	"go.podman.io/image/v5/types"
)

// layer is what one layer holds of the files this package reads, and
// what it deletes of the layers below it.
type layer struct {
	files     files
	whiteouts []string // paths removed below (".wh.<name>")
	opaque    []string // directories whose lower contents are hidden (".wh..wh..opq")
}

// Scanner reads images' inventories. Layers are content-addressed, so what
// a layer holds is read once and kept (the base image's layers are shared
// by every build on it).
type Scanner struct {
	mu     sync.Mutex
	layers map[string]layer
	order  []string
}

// keptLayers bounds the layers a Scanner remembers.
const keptLayers = 256

// NewScanner returns a Scanner with an empty layer cache.
func NewScanner() *Scanner { return &Scanner{layers: map[string]layer{}} }

// ScanImage reads the inventory of the image src gives (one manifest, not a
// list): every layer, top-down, honouring whiteouts.
func (s *Scanner) ScanImage(ctx context.Context, src types.ImageSource, sys *types.SystemContext) (Inventory, error) {
	img, err := image.FromUnparsedImage(ctx, sys, image.UnparsedInstance(src, nil))
	if err != nil {
		return Inventory{}, fmt.Errorf("read the image manifest: %w", err)
	}
	infos := img.LayerInfos()
	layers := make([]layer, len(infos))
	for i, info := range infos {
		if l, ok := s.cached(info.Digest.String()); ok {
			layers[i] = l
			continue
		}
		l, err := readLayer(ctx, src, info)
		if err != nil {
			return Inventory{}, err
		}
		s.keep(info.Digest.String(), l)
		layers[i] = l
	}
	return merge(layers).inventory(), nil
}

func (s *Scanner) cached(dig string) (layer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.layers[dig]
	return l, ok
}

func (s *Scanner) keep(dig string, l layer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.layers[dig]; ok {
		return
	}
	if len(s.order) >= keptLayers {
		delete(s.layers, s.order[0])
		s.order = s.order[1:]
	}
	s.layers[dig] = l
	s.order = append(s.order, dig)
}

// readLayer streams one layer blob and keeps the records of the files
// classify names.
func readLayer(ctx context.Context, src types.ImageSource, info types.BlobInfo) (l layer, err error) {
	err = ReadLayer(ctx, src, info, func(tarStream io.Reader) error {
		l, err = readTar(tarStream)
		return err
	})
	return l, err
}

// ReadLayer streams one layer blob of src, decompressed, to read (its tar
// stream); an error names the layer.
func ReadLayer(ctx context.Context, src types.ImageSource, info types.BlobInfo, read func(tarStream io.Reader) error) error {
	blob, _, err := src.GetBlob(ctx, info, none.NoCache)
	if err != nil {
		return fmt.Errorf("read layer %s: %w", info.Digest, err)
	}
	defer blob.Close()
	plain, _, err := compression.AutoDecompress(blob)
	if err != nil {
		return fmt.Errorf("read layer %s: %w", info.Digest, err)
	}
	defer plain.Close()
	if err := read(plain); err != nil {
		return fmt.Errorf("read layer %s: %w", info.Digest, err)
	}
	return nil
}

// readTar reads a layer's tar stream.
func readTar(r io.Reader) (layer, error) {
	l := layer{files: files{}}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return l, nil
		}
		if err != nil {
			return l, err
		}
		p := path.Clean("/" + h.Name)
		dir, base := path.Split(p)
		switch {
		case base == ".wh..wh..opq":
			l.opaque = append(l.opaque, path.Clean(dir))
			continue
		case strings.HasPrefix(base, ".wh."):
			l.whiteouts = append(l.whiteouts, path.Join(dir, strings.TrimPrefix(base, ".wh.")))
			continue
		}
		k := classify(p)
		if k == notRead {
			continue
		}
		switch h.Typeflag {
		case tar.TypeReg:
			rec, err := readFile(k, p, tr)
			if err != nil {
				continue // one unreadable record does not hide the rest
			}
			l.files[p] = rec
		case tar.TypeLink:
			l.files[p] = l.files[path.Clean("/"+h.Linkname)]
		default:
			l.files[p] = record{} // replaced by a link or a directory: hides what lies below
		}
	}
}

// merge lays layers (bottom first) over each other: a file of a higher
// layer wins, and a whiteout or opaque directory hides what lies below it.
func merge(layers []layer) files {
	out := files{}
	var hidden []string // paths hidden by the layers above the one read
	under := func(p string) bool {
		for _, h := range hidden {
			if p == h || strings.HasPrefix(p, h+"/") || h == "/" {
				return true
			}
		}
		return false
	}
	seen := map[string]bool{}
	for i := len(layers) - 1; i >= 0; i-- {
		l := layers[i]
		for p, rec := range l.files {
			if seen[p] || under(p) {
				continue
			}
			seen[p] = true
			out[p] = rec
		}
		hidden = append(hidden, l.whiteouts...)
		hidden = append(hidden, l.opaque...)
	}
	return out
}

// ScanDir reads the inventory of a root filesystem in a directory.
func ScanDir(ctx context.Context, root string) (Inventory, error) {
	out := files{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root {
				return err
			}
			return nil // an unreadable corner hides nothing else
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return nil
		}
		ip := path.Clean("/" + filepath.ToSlash(rel))
		k := classify(ip)
		if k == notRead {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return nil
		}
		defer f.Close()
		if rec, err := readFile(k, ip, f); err == nil {
			out[ip] = rec
		}
		return nil
	})
	if err != nil {
		return Inventory{}, fmt.Errorf("read %s: %w", root, err)
	}
	return out.inventory(), nil
}
