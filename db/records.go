// Package db owns the persistent state of Image Builder: image specs, build
// jobs, revisions and settings, stored in SQLite. It is the only package that
// contains SQL. Its records are plain domain types; it must not import the
// HTTP, view or builder packages.
package db

import "imagebuilder/db/imagespec"

// ImageSpec is what an administrator defines; see imagespec.Spec (a
// leaf package, so the build executors carry it without the store).
type ImageSpec = imagespec.Spec
