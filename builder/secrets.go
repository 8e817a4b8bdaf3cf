package builder

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/types"

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
	engine   *Engine
	fallback Registry // the embedded registry, or the one given by flags
	// AllowLinkLocal lets the registry check reach link-local and cloud
	// metadata addresses (--registry-allow-link-local).
	AllowLinkLocal bool
}

// NewSettings ties the stored settings to their defaults. engine may be
// nil (then registries.conf is not kept up to date).
func NewSettings(store *db.DB, box *SecretBox, engine *Engine, fallback Registry) *Settings {
	return &Settings{db: store, box: box, engine: engine, fallback: fallback}
}

// Fallback is the registry used while none is saved in the portal.
func (s *Settings) Fallback() Registry { return s.fallback }

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
func (s *Settings) Registry(ctx context.Context) (Registry, error) {
	rs, err := s.RegistrySettings(ctx)
	if err != nil {
		return Registry{}, err
	}
	if !rs.External {
		return s.fallback, nil
	}
	reg := Registry{Host: rs.Host, Username: rs.Username, Insecure: rs.Insecure}
	if rs.HasPassword() {
		pw, err := s.box.Open(rs.Sealed)
		if err != nil {
			return Registry{}, err
		}
		reg.Password = string(pw)
	}
	return reg, nil
}

// SaveRegistry stores new settings. An empty password keeps the stored one.
func (s *Settings) SaveRegistry(ctx context.Context, rs RegistrySettings, password string) error {
	if rs.External {
		if msg := CheckRegistryHost(rs.Host); !msg.IsZero() {
			return FieldError{Field: "host", Message: msg}
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
	if err := s.db.SetSetting(ctx, registrySettingKey, string(raw)); err != nil {
		return err
	}
	return s.SyncEngine(ctx)
}

// SyncEngine keeps the engine's registries.conf in step with the
// registries reached without TLS (for base images pulled from them).
func (s *Settings) SyncEngine(ctx context.Context) error {
	if s.engine == nil {
		return nil
	}
	hosts := []string{}
	if s.fallback.Insecure {
		hosts = append(hosts, hostOnly(s.fallback.Host))
	}
	if rs, err := s.RegistrySettings(ctx); err == nil && rs.External && rs.Insecure {
		hosts = append(hosts, hostOnly(rs.Host))
	}
	return s.engine.SetInsecureRegistries(hosts...)
}

func hostOnly(host string) string { return strings.SplitN(host, "/", 2)[0] }

// CheckRegistryHost returns why host is not a usable host[:port][/prefix].
func CheckRegistryHost(host string) Message {
	switch {
	case strings.TrimSpace(host) == "":
		return msgf("the registry address is required, e.g. registry.example.com or registry.example.com:5000/team")
	case strings.Contains(host, "://"):
		return msgf("write the registry without a scheme (no https://), e.g. registry.example.com:5000")
	case strings.ContainsAny(host, " \t\r\n"):
		return msgf("the registry address must not contain spaces")
	}
	if !CheckImageReference(host + "/x:y").IsZero() {
		return msgf("%q is not a registry address, e.g. registry.example.com:5000/team", host)
	}
	return Message{}
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
func CheckPullSecret(ctx context.Context, store *db.DB, name string) (Message, error) {
	if name == "" {
		return Message{}, nil
	}
	_, err := store.GetPullSecret(ctx, name)
	switch {
	case errors.Is(err, db.ErrNotFound):
		return msgf("pull secret %q does not exist; add it under Pull secrets first, or choose another one", name), nil
	case err != nil:
		return Message{}, fmt.Errorf("look up pull secret %q: %w", name, err)
	}
	return Message{}, nil
}

// SavePullSecret validates and stores a secret, sealed.
func (s *Settings) SavePullSecret(ctx context.Context, name string, content []byte) error {
	if msg := CheckName(name); !msg.IsZero() {
		return FieldError{Field: "name", Message: msg}
	}
	if err := CheckDockerConfig(content); err != nil {
		return FieldError{Field: "content", Message: asMessage(err)}
	}
	sealed, err := s.box.Seal(content)
	if err != nil {
		return err
	}
	return s.db.SavePullSecret(ctx, name, sealed)
}

// errForbiddenAddress is what the registry check's dialer answers for an
// address it must not reach.
var errForbiddenAddress = errors.New("link-local or cloud metadata address")

// forbiddenRegistryIP reports whether ip is link-local (which holds the
// cloud metadata services, e.g. 169.254.169.254) or another well-known
// metadata address.
func forbiddenRegistryIP(ip net.IP) bool {
	if ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() {
		return true
	}
	for _, m := range []string{"100.100.100.200", "fd00:ec2::254"} {
		if ip.Equal(net.ParseIP(m)) {
			return true
		}
	}
	return false
}

// CheckRegistry tells what stops reg from taking pushes, in one of five
// words: DNS, unreachable (or refused, for a link-local or cloud metadata
// address, unless allowLinkLocal), TLS, "not a registry" or
// authentication. nil means it answered and the credentials (if any) were
// accepted. It never reports what else answered (no status line or body),
// so it cannot be used to map internal services.
func CheckRegistry(ctx context.Context, reg Registry, allowLinkLocal bool) error {
	ctx, cancel := context.WithTimeout(ctx, 8*time.Second)
	defer cancel()
	host := hostOnly(reg.Host)
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	if ip := net.ParseIP(strings.Trim(name, "[]")); ip == nil {
		if _, err := net.DefaultResolver.LookupHost(ctx, name); err != nil {
			return msgf("DNS: cannot resolve %q", name)
		}
	}
	dialer := &net.Dialer{Timeout: 3 * time.Second, Control: func(_, address string, _ syscall.RawConn) error {
		h, _, _ := net.SplitHostPort(address)
		if ip := net.ParseIP(h); ip != nil && !allowLinkLocal && forbiddenRegistryIP(ip) {
			return errForbiddenAddress
		}
		return nil
	}}
	client := &http.Client{Timeout: 4 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	try := func(scheme string, skipVerify bool) (*http.Response, error) {
		client.Transport = &http.Transport{DialContext: dialer.DialContext, Proxy: nil,
			TLSClientConfig: &tls.Config{InsecureSkipVerify: skipVerify}} //nolint:gosec // only when the admin asked for it
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+host+"/v2/", nil)
		if err != nil {
			return nil, err
		}
		return client.Do(req)
	}
	resp, err := try("https", reg.Insecure)
	if err != nil && reg.Insecure && !errors.Is(err, errForbiddenAddress) {
		resp, err = try("http", false)
	}
	if err != nil {
		var certErr *tls.CertificateVerificationError
		var recordErr tls.RecordHeaderError
		switch {
		case errors.Is(err, errForbiddenAddress):
			return msgf("refused: %s is a link-local or cloud metadata address; start the server with --registry-allow-link-local to use a registry there", host)
		case errors.As(err, &certErr):
			return msgf("TLS: the certificate of %s is not trusted; enable skip-TLS-verify for a registry with a self-signed certificate", host)
		case errors.As(err, &recordErr), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
			return msgf("TLS: %s speaks plain HTTP; enable skip-TLS-verify (insecure) to use it", host)
		}
		return msgf("unreachable: cannot connect to %s", host)
	}
	resp.Body.Close()
	if resp.Header.Get("Docker-Distribution-Api-Version") == "" {
		return msgf("not a registry: %s does not answer like a container registry", host)
	}
	if resp.StatusCode == http.StatusUnauthorized || reg.Username != "" {
		if reg.Username == "" {
			return msgf("authentication: %s requires a user name and password", host)
		}
		sys := &types.SystemContext{AuthFilePath: os.DevNull}
		if reg.Insecure {
			sys.DockerInsecureSkipTLSVerify = types.OptionalBoolTrue
		}
		if err := docker.CheckAuth(ctx, sys, reg.Username, reg.Password, host); err != nil {
			return msgf("authentication: %s refused the user name and password", host)
		}
	}
	return nil
}
