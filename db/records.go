// Package db owns the persistent state of Image Builder: image specs, build
// jobs, revisions and settings, stored in SQLite. It is the only package that
// contains SQL. Its records are plain domain types; it must not import the
// HTTP, view or builder packages.
package db

// ImageSpec is what an administrator defines: a base image plus the APT, Conda
// and Pip packages to install on top of it. Its JSON form is the file format
// the command line reads and the snapshot a build job keeps of what it built.
type ImageSpec struct {
	// Name is unique and immutable once created; it becomes the image
	// repository name in the registry.
	Name string `json:"name"`
	// BaseImage is any image reference, e.g. 127.0.0.1:5000/library/debian:bookworm.
	BaseImage string `json:"baseImage"`
	// PullSecret names the pull secret used to pull BaseImage ("" for none).
	PullSecret string `json:"pullSecret,omitempty"`
	// APT, Conda and Pip hold one package line each, in the order given.
	APT   []string `json:"apt,omitempty"`
	Conda []string `json:"conda,omitempty"`
	Pip   []string `json:"pip,omitempty"`
}
