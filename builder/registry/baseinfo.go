package registry

import "errors"

// BaseInfo is what a base image offers a build.
type BaseInfo struct {
	// Digest is the manifest digest the reference resolved to.
	Digest string
	// OS is PRETTY_NAME of /etc/os-release ("" when it has none).
	OS   string
	Arch string
	// User is the image's default user ("" for root).
	User string
	// Tools are which package tools it has, by name: apt-get, python3,
	// pip (pip3, pip or python3 -m pip), conda (conda, mamba or
	// micromamba).
	Tools map[string]bool
}

// ErrBaseNotFound is a base image its registry does not have.
var ErrBaseNotFound = errors.New("the base image does not exist in its registry")
