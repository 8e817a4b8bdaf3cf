// Package imagespec holds the image spec record: what an administrator
// defines and a build job keeps as its snapshot. It is a leaf (no SQL,
// only the standard library), so the executors and the Containerfile
// carry specs without depending on the store; package db names it
// db.ImageSpec.
package imagespec

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// Spec is what an administrator defines: a base image plus the APT, Conda
// and Pip packages to install on top of it. Its JSON form is the file format
// the command line reads and the snapshot a build job keeps of what it built.
type Spec struct {
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

// Version identifies the spec's content: its base image, pull secret and
// package lists (and name). An edit made from one version is refused once
// the spec holds another, so a second tab or script cannot silently undo
// the first one's change. It is the API's ETag.
func (s Spec) Version() string {
	b, _ := json.Marshal([]any{s.Name, s.BaseImage, s.PullSecret, nonNil(s.APT), nonNil(s.Conda), nonNil(s.Pip)}) // strings always marshal
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// SameContent reports whether two specs build the same thing.
func (s Spec) SameContent(o Spec) bool { return s.Version() == o.Version() }

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}
