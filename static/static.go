// Package static embeds the portal's stylesheet and scripts, and the htmx
// files that `make setup` copies from npm into vendor/ (not in git).
package static

import "embed"

// Files holds everything in this directory.
//
//go:embed *
var Files embed.FS
