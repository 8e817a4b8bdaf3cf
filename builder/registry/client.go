package registry

import (
	"context"
	"crypto/tls"
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

	"imagebuilder/builder/message"
	"imagebuilder/builder/spec"
)

// Target is a registry that builds push to.
type Target struct {
	// Host is host[:port][/path-prefix], e.g. 127.0.0.1:5000 or
	// registry.example.com/team.
	Host     string
	Username string
	Password string
	// Insecure allows plain HTTP and skips TLS verification.
	Insecure bool
	// Own is the portal's embedded registry: its credentials also pull
	// base images from it, so a password-protected one (for build pods)
	// needs no pull secret for its own images. An external registry's
	// credentials push only; its private bases need a pull secret.
	Own bool
}

// HostOnly is host[:port] of a host[:port][/prefix].
func HostOnly(host string) string { return strings.SplitN(host, "/", 2)[0] }

// msgf writes a message for people; see package message.
func msgf(format string, args ...any) message.Message { return message.New(format, args...) }

// CheckHost returns why host is not a usable host[:port][/prefix].
func CheckHost(host string) message.Message {
	switch {
	case strings.TrimSpace(host) == "":
		return msgf("the registry address is required, e.g. registry.example.com or registry.example.com:5000/team")
	case strings.Contains(host, "://"):
		return msgf("write the registry without a scheme (no https://), e.g. registry.example.com:5000")
	case strings.ContainsAny(host, " \t\r\n"):
		return msgf("the registry address must not contain spaces")
	}
	if !spec.CheckImageReference(host + "/x:y").IsZero() {
		return msgf("%q is not a registry address, e.g. registry.example.com:5000/team", host)
	}
	return message.Message{}
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

// GuardedDialer dials like net.Dialer but refuses link-local and cloud
// metadata addresses unless allowLinkLocal: for connections to addresses
// an administrator typed (a registry, a webhook), so they cannot reach
// the cloud's metadata service.
func GuardedDialer(timeout time.Duration, allowLinkLocal bool) *net.Dialer {
	return &net.Dialer{Timeout: timeout, Control: func(_, address string, _ syscall.RawConn) error {
		h, _, _ := net.SplitHostPort(address)
		if ip := net.ParseIP(h); ip != nil && !allowLinkLocal && forbiddenRegistryIP(ip) {
			return errForbiddenAddress
		}
		return nil
	}}
}

// ErrForbiddenAddress is what a GuardedDialer answers for an address it
// must not reach.
var ErrForbiddenAddress = errForbiddenAddress

// Check tells what stops reg from taking pushes, in one of five
// words: DNS, unreachable (or refused, for a link-local or cloud metadata
// address, unless allowLinkLocal), TLS, "not a registry" or
// authentication. nil means it answered and the credentials (if any) were
// accepted. It never reports what else answered (no status line or body),
// so it cannot be used to map internal services.
func Check(ctx context.Context, reg Target, allowLinkLocal bool) error {
	ctx, cancel := context.WithTimeout(ctx, 6*time.Second)
	defer cancel()
	host := HostOnly(reg.Host)
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	if ip := net.ParseIP(strings.Trim(name, "[]")); ip == nil {
		if _, err := net.DefaultResolver.LookupHost(ctx, name); err != nil {
			return msgf("DNS: cannot resolve %q", name)
		}
	}
	dialer := GuardedDialer(3*time.Second, allowLinkLocal)
	client := &http.Client{Timeout: 3 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
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
		sys := &types.SystemContext{AuthFilePath: os.DevNull, BigFilesTemporaryDir: os.TempDir()}
		if reg.Insecure {
			sys.DockerInsecureSkipTLSVerify = types.OptionalBoolTrue
		}
		if err := docker.CheckAuth(ctx, sys, reg.Username, reg.Password, host); err != nil {
			return msgf("authentication: %s refused the user name and password", host)
		}
	}
	return nil
}

// Answers reports whether a registry answers at reg's host (with or
// without credentials): the quick "is there a registry?" of the portal's
// warning and of the command line, bounded to two seconds.
func Answers(ctx context.Context, reg Target) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	schemes := []string{"https"}
	if reg.Insecure {
		schemes = []string{"http", "https"}
	}
	client := http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, s := range schemes {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s+"://"+HostOnly(reg.Host)+"/v2/", nil)
		if err != nil {
			return false
		}
		resp, err := client.Do(req)
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
			return resp.Header.Get("Docker-Distribution-Api-Version") != "" || resp.StatusCode == http.StatusOK
		}
	}
	return false
}

// ErrSilent is a registry that took the connection and did not answer, or
// could not be connected to, in time.
var ErrSilent = errors.New("the registry did not answer")

// ErrUnreachable is a registry that could not be connected to at all
// (connection refused, no such host, no route).
var ErrUnreachable = errors.New("the registry cannot be reached")

// Probe asks host (host[:port]) for its API root and waits at most timeout
// for the answer's headers. Any answer, even an error status, is fine;
// silence past timeout returns ErrSilent, and a connection that fails on
// every scheme returns ErrUnreachable with the last cause.
func Probe(ctx context.Context, host string, insecure bool, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	schemes := []string{"https"}
	if insecure {
		schemes = []string{"http", "https"}
	}
	client := http.Client{Transport: &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{InsecureSkipVerify: insecure}}, //nolint:gosec // as configured for this registry
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var last error
	for _, s := range schemes {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s+"://"+host+"/v2/", nil)
		if err != nil {
			return nil
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w within %s", host, ErrSilent, timeout)
		}
		var op *net.OpError
		var dns *net.DNSError
		if !errors.As(err, &op) && !errors.As(err, &dns) {
			return nil // TLS or protocol trouble: the pull or push says what
		}
		last = err
	}
	return fmt.Errorf("%s: %w: %w", host, ErrUnreachable, last)
}
