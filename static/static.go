// Package static embeds the portal's stylesheet and scripts, and the htmx
// files that `make setup` copies from npm into vendor/ (not in git).
package static

import (
	"embed"
	"io/fs"
	"path"
)

// Files holds everything in this directory, this Go source included.
//
//go:embed *
var Files embed.FS

// assetTypes are the file types the portal serves.
var assetTypes = map[string]bool{".css": true, ".js": true, ".svg": true, ".png": true, ".ico": true, ".woff2": true}

// Assets is Files without what is not an asset (Go sources, anything
// else): only stylesheets, scripts, images and fonts can be opened.
var Assets fs.FS = assets{Files}

type assets struct{ fs.FS }

func (a assets) Open(name string) (fs.File, error) {
	f, err := a.FS.Open(name)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err == nil && !st.IsDir() && !assetTypes[path.Ext(name)] {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return f, nil
}
