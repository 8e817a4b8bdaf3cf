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
	host := HostOnly(reg.Host)
	if err != nil || !reg.Own || reg.Username == "" || reference.Domain(named) != host {
		return pullSecret
	}
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
	if _, ok := auths[host]; ok {
		return pullSecret
	}
	entry, _ := json.Marshal(map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(reg.Username + ":" + reg.Password))})
	auths[host] = entry
	config["auths"], _ = json.Marshal(auths)
	out, _ := json.Marshal(config)
	return out
}
