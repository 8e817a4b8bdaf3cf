// Package settings owns what administrators configure for builds: the
// push registry (stored, with the server's flags as the fallback) and the
// pull secrets, sealed at rest with AES-256-GCM under a key in the data
// directory. Secrets are write-only: no function returns them to a page.
package settings

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"imagebuilder/builder/executor"
	"imagebuilder/builder/message"
	"imagebuilder/builder/registry"
	"imagebuilder/builder/spec"
	"imagebuilder/db"
)

// SecretBox seals secrets at rest with AES-256-GCM under a key kept in a
// file of the data directory (created on first use, mode 0600).
type SecretBox struct {
	aead cipher.AEAD
}

// OpenSecretBox loads or creates the key file.
func OpenSecretBox(keyPath string) (*SecretBox, error) {
	key, err := os.ReadFile(keyPath)
	if errors.Is(err, os.ErrNotExist) {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := os.WriteFile(keyPath, key, 0o600); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("%s: want a 32-byte key, found %d bytes", keyPath, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &SecretBox{aead: aead}, nil
}

// Seal encrypts plain; the nonce leads the result.
func (b *SecretBox) Seal(plain []byte) ([]byte, error) {
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return b.aead.Seal(nonce, nonce, plain, nil), nil
}

// Open decrypts what Seal produced.
func (b *SecretBox) Open(sealed []byte) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("sealed secret is too short")
	}
	plain, err := b.aead.Open(nil, sealed[:n], sealed[n:], nil)
	if err != nil {
		return nil, errors.New("cannot decrypt the secret: the key in the data directory does not match")
	}
	return plain, nil
}

// CheckDockerConfig validates a .dockerconfigjson document. Its messages
// never quote the content.
func CheckDockerConfig(raw []byte) error {
	var cfg struct {
		Auths map[string]struct {
			Auth     string `json:"auth"`
			Username string `json:"username"`
			Password string `json:"password"`
		} `json:"auths"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return msgf(`not valid JSON; expected {"auths": {"registry.example.com": {"auth": "base64(user:password)"}}}`)
	}
	if len(cfg.Auths) == 0 {
		return msgf(`"auths" is missing or empty; expected {"auths": {"registry.example.com": {"auth": "..."}}}`)
	}
	for host, a := range cfg.Auths {
		if strings.TrimSpace(host) == "" {
			return msgf(`an entry of "auths" has an empty registry name`)
		}
		if a.Auth != "" {
			dec, err := base64.StdEncoding.DecodeString(a.Auth)
			if err != nil || !strings.Contains(string(dec), ":") {
				return msgf(`the "auth" of %q must be base64 of "user:password"`, host)
			}
		} else if a.Username == "" || a.Password == "" {
			return msgf(`the entry for %q needs "auth", or "username" and "password"`, host)
		}
	}
	return nil
}

// RegistrySettings is what the portal stores about the push registry.
type RegistrySettings struct {
	// External is false for the embedded registry.
	External bool   `json:"external"`
	Host     string `json:"host,omitempty"`
	Username string `json:"username,omitempty"`
	// Sealed is the encrypted password.
	Sealed   []byte `json:"sealedPassword,omitempty"`
	Insecure bool   `json:"insecure,omitempty"`
}

// HasPassword reports whether a password is stored (it is never shown).
func (r RegistrySettings) HasPassword() bool { return len(r.Sealed) > 0 }

const registrySettingKey = "registry"

// Settings resolves the registry and pull secrets that builds use, from
// what the portal stored and the server's defaults.
type Settings struct {
	db       *db.DB
	box      *SecretBox
	told     []InsecureRegistries
	fallback registry.Target // the embedded registry, or the one given by flags
	// AllowLinkLocal lets the registry check reach link-local and cloud
	// metadata addresses (--registry-allow-link-local).
	AllowLinkLocal bool
	// DefaultLimits are each build's limits until an administrator saves
	// others (--build-memory, --build-cpus).
	DefaultLimits executor.Limits
	// DefaultSchedule is the schedule until an administrator saves one
	// (--housekeeping-interval, --base-check-interval).
	DefaultSchedule Schedule

	scheduleChanges changes
}

// InsecureRegistries is told which registries are reached without TLS
// verification (the images client and the build engine).
type InsecureRegistries interface {
	SetInsecureRegistries(hosts ...string) error
}

// New ties the stored settings to their defaults; told are kept up to
// date with the registries reached without TLS (none: nobody is told).
func New(store *db.DB, box *SecretBox, fallback registry.Target, told ...InsecureRegistries) *Settings {
	return &Settings{db: store, box: box, told: told, fallback: fallback}
}

// Fallback is the registry used while none is saved in the portal.
func (s *Settings) Fallback() registry.Target { return s.fallback }

// RegistrySettings returns the stored settings, or the fallback's.
func (s *Settings) RegistrySettings(ctx context.Context) (RegistrySettings, error) {
	raw, ok, err := s.db.GetSetting(ctx, registrySettingKey)
	if err != nil {
		return RegistrySettings{}, err
	}
	if !ok {
		return RegistrySettings{External: false, Host: s.fallback.Host, Insecure: s.fallback.Insecure}, nil
	}
	var rs RegistrySettings
	if err := json.Unmarshal([]byte(raw), &rs); err != nil {
		return RegistrySettings{}, fmt.Errorf("stored registry settings: %w", err)
	}
	return rs, nil
}

// Registry is where new builds push, with credentials.
func (s *Settings) Registry(ctx context.Context) (registry.Target, error) {
	rs, err := s.RegistrySettings(ctx)
	if err != nil {
		return registry.Target{}, err
	}
	if !rs.External {
		return s.fallback, nil
	}
	reg := registry.Target{Host: rs.Host, Username: rs.Username, Insecure: rs.Insecure}
	if rs.HasPassword() {
		pw, err := s.box.Open(rs.Sealed)
		if err != nil {
			return registry.Target{}, err
		}
		reg.Password = string(pw)
	}
	return reg, nil
}

// SaveRegistry stores new settings. An empty password keeps the stored one.
func (s *Settings) SaveRegistry(ctx context.Context, rs RegistrySettings, password string) error {
	if rs.External {
		if msg := registry.CheckHost(rs.Host); !msg.IsZero() {
			return spec.FieldError{Field: "host", Message: msg}
		}
		old, err := s.RegistrySettings(ctx)
		if err != nil {
			return err
		}
		switch {
		case password != "":
			if rs.Sealed, err = s.box.Seal([]byte(password)); err != nil {
				return err
			}
		case old.External && old.Host == rs.Host && old.Username == rs.Username:
			rs.Sealed = old.Sealed
		}
	} else {
		rs = RegistrySettings{}
	}
	raw, err := json.Marshal(rs)
	if err != nil {
		return err
	}
	detail := db.Describe("the embedded registry")
	if rs.External {
		format := "the external registry %s, user %s"
		if rs.Insecure {
			format += ", without TLS verification"
		}
		if len(rs.Sealed) > 0 {
			format += ", with a password"
		}
		detail = db.Describe(format, rs.Host, rs.Username)
	}
	if err := s.db.SetSetting(ctx, registrySettingKey, string(raw), detail); err != nil {
		return err
	}
	return s.SyncInsecure(ctx)
}

// SyncInsecure tells the images client and the engine which registries
// are reached without TLS (base images pulled from them, images read).
func (s *Settings) SyncInsecure(ctx context.Context) error {
	if len(s.told) == 0 {
		return nil
	}
	hosts := []string{}
	if s.fallback.Insecure {
		hosts = append(hosts, registry.HostOnly(s.fallback.Host))
	}
	if rs, err := s.RegistrySettings(ctx); err == nil && rs.External && rs.Insecure {
		hosts = append(hosts, registry.HostOnly(rs.Host))
	}
	var errs []error
	for _, t := range s.told {
		errs = append(errs, t.SetInsecureRegistries(hosts...))
	}
	return errors.Join(errs...)
}

// PullSecret returns the Docker config JSON of a named secret.
func (s *Settings) PullSecret(ctx context.Context, name string) ([]byte, error) {
	p, err := s.db.GetPullSecret(ctx, name)
	if err != nil {
		return nil, err
	}
	return s.box.Open(p.Sealed)
}

// CheckPullSecret returns why name cannot be chosen as a pull secret (it
// does not exist), or a zero Message; "" means none and is fine.
func CheckPullSecret(ctx context.Context, store *db.DB, name string) (message.Message, error) {
	if name == "" {
		return message.Message{}, nil
	}
	_, err := store.GetPullSecret(ctx, name)
	switch {
	case errors.Is(err, db.ErrNotFound):
		return msgf("pull secret %q does not exist; add it under Pull secrets first, or choose another one", name), nil
	case err != nil:
		return message.Message{}, fmt.Errorf("look up pull secret %q: %w", name, err)
	}
	return message.Message{}, nil
}

// SavePullSecret validates and stores a secret, sealed.
func (s *Settings) SavePullSecret(ctx context.Context, name string, content []byte) error {
	if msg := spec.CheckName(name); !msg.IsZero() {
		return spec.FieldError{Field: "name", Message: msg}
	}
	if err := CheckDockerConfig(content); err != nil {
		return spec.FieldError{Field: "content", Message: message.Of(err)}
	}
	sealed, err := s.box.Seal(content)
	if err != nil {
		return err
	}
	return s.db.SavePullSecret(ctx, name, sealed)
}

// msgf writes a message for people; see package message.
func msgf(format string, args ...any) message.Message { return message.New(format, args...) }
