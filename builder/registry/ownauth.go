package registry

import (
	"encoding/base64"
	"encoding/json"

	"go.podman.io/image/v5/docker/reference"
)

// WithOwnAuth adds the embedded registry's credentials (see
// Target.Own) to a pull secret (a Docker config JSON, or nil) for
// a base image in that registry, unless the secret has an entry for it
// already.
func WithOwnAuth(pullSecret []byte, base string, reg Target) []byte {
	named, err := reference.ParseNormalizedNamed(base)
	if err != nil || !reg.Own || reg.Username == "" || reference.Domain(named) != HostOnly(reg.Host) {
		return pullSecret
	}
	return withAuth(pullSecret, reg, false)
}

// WithPushAuth adds reg's own credentials to a pull secret (a Docker
// config JSON, or nil), replacing an entry for its host: a build that
// pushes its layer cache there as it goes needs them, not a pull-only
// secret's.
func WithPushAuth(pullSecret []byte, reg Target) []byte {
	if reg.Username == "" {
		return pullSecret
	}
	return withAuth(pullSecret, reg, true)
}

func withAuth(pullSecret []byte, reg Target, replace bool) []byte {
	host := HostOnly(reg.Host)
	config := map[string]json.RawMessage{}
	auths := map[string]json.RawMessage{}
	if len(pullSecret) > 0 {
		if json.Unmarshal(pullSecret, &config) != nil {
			return pullSecret // not ours to fix; the pull says what is wrong
		}
		if raw, ok := config["auths"]; ok && json.Unmarshal(raw, &auths) != nil {
			return pullSecret
		}
	}
	if _, ok := auths[host]; ok && !replace {
		return pullSecret
	}
	entry, _ := json.Marshal(map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(reg.Username + ":" + reg.Password))})
	auths[host] = entry
	config["auths"], _ = json.Marshal(auths)
	out, _ := json.Marshal(config)
	return out
}

// CacheRepository is the repository under a registry where builds of
// spec keep their layer cache (Buildah's cache images, tagged by cache
// key): two path components, so no spec's own repository is one.
func CacheRepository(spec string) string { return CachePrefix + spec }

// CachePrefix starts every layer cache repository.
const CachePrefix = "imagebuilder-cache/"
