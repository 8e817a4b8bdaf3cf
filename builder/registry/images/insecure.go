package images

import (
	"maps"
	"os"
	"slices"
	"sync"

	"go.podman.io/image/v5/pkg/sysregistriesv2"
)

// Insecure is the set of registries (host[:port]) reached over plain HTTP
// or without TLS verification, kept in a registries.conf file that
// containers/image reads (see RegistriesConf). The engine and the client
// each keep one.
type Insecure struct {
	path string

	mu    sync.Mutex
	hosts map[string]bool
}

// NewInsecure writes path with hosts and returns the set.
func NewInsecure(path string, hosts ...string) (*Insecure, error) {
	i := &Insecure{path: path}
	return i, i.Set(hosts...)
}

// Set replaces the hosts and rewrites the file.
func (i *Insecure) Set(hosts ...string) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.hosts = map[string]bool{}
	for _, h := range hosts {
		if h != "" {
			i.hosts[h] = true
		}
	}
	// A reader never sees the file half written: write, then rename.
	tmp := i.path + ".new"
	if err := os.WriteFile(tmp, []byte(RegistriesConf(slices.Sorted(maps.Keys(i.hosts)))), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, i.path); err != nil {
		return err
	}
	sysregistriesv2.InvalidateCache()
	return nil
}

// Has reports whether host is reached without TLS verification.
func (i *Insecure) Has(host string) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.hosts[host]
}

// Path is the registries.conf file.
func (i *Insecure) Path() string { return i.path }
