// Package registry owns what Image Builder knows of registries: the
// embedded OCI distribution registry it pushes to by default
// (distribution/v3 with filesystem storage in the data directory, on a
// loopback port), the Target type of any registry builds push to, and the
// one client that checks whether a registry answers (Answers) and what
// stops it from taking pushes (Check). It knows nothing about HTTP handlers
// of the portal, the database or builds.
package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/sirupsen/logrus"

	// The filesystem storage driver registers itself on import.
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	// The htpasswd access controller, for a registry that requires sign-in.
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"
)

var quietOnce sync.Once

// quietRequestLogs drops the registry's per-request log entries (it logs
// every 404 probe of a push as an error) from logrus's standard logger,
// which it shares with Buildah; server-side failures (5xx) are kept.
func quietRequestLogs() {
	quietOnce.Do(func() {
		std := logrus.StandardLogger()
		std.SetFormatter(requestFilter{next: std.Formatter})
	})
}

type requestFilter struct{ next logrus.Formatter }

func (f requestFilter) Format(e *logrus.Entry) ([]byte, error) {
	if _, ok := e.Data["http.request.id"]; ok {
		if status, _ := e.Data["http.response.status"].(int); status < 500 {
			return nil, nil
		}
	}
	return f.next.Format(e)
}

// Config says where the registry keeps its blobs and where it listens.
type Config struct {
	// Dir holds the blobs and manifests.
	Dir string
	// Addr is host:port to listen on; use "127.0.0.1:0" for a free port.
	Addr string
	// HtpasswdPath, when set, requires basic auth against that file.
	HtpasswdPath string
}

// Registry is a running embedded registry.
type Registry struct {
	app  *handlers.App
	srv  *http.Server
	ln   net.Listener
	dir  string
	gate *gate
}

// Start opens the listener and serves the registry in the background.
func Start(ctx context.Context, cfg Config) (*Registry, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	quietRequestLogs()
	// The registry library panics on a password file it cannot read: say
	// which file, and why, instead.
	if cfg.HtpasswdPath != "" {
		f, err := os.Open(cfg.HtpasswdPath)
		if err != nil {
			return nil, fmt.Errorf("embedded registry: the password file (--registry-htpasswd): %w", err)
		}
		f.Close()
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("embedded registry: listen on %s: %w", cfg.Addr, err)
	}
	conf := &configuration.Configuration{
		Version: configuration.MajorMinorVersion(0, 1),
		Storage: configuration.Storage{
			"filesystem": configuration.Parameters{"rootdirectory": cfg.Dir},
			"delete":     configuration.Parameters{"enabled": true},
		},
		Catalog: configuration.Catalog{MaxEntries: 10000},
	}
	conf.Log.AccessLog.Disabled = true
	conf.Log.Level = "warn"
	conf.HTTP.Addr = ln.Addr().String()
	conf.HTTP.Secret = "imagebuilder-embedded" // one instance: no state shared across instances
	if cfg.HtpasswdPath != "" {
		conf.Auth = configuration.Auth{"htpasswd": configuration.Parameters{
			"realm": "imagebuilder", "path": cfg.HtpasswdPath}}
	}
	app := handlers.NewApp(ctx, conf)
	g := &gate{next: app}
	r := &Registry{
		app:  app,
		ln:   ln,
		dir:  cfg.Dir,
		gate: g,
		srv:  &http.Server{Handler: g, ReadHeaderTimeout: 30 * time.Second},
	}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

// Host is the host:port that image references use, e.g. 127.0.0.1:5000.
func (r *Registry) Host() string { return r.ln.Addr().String() }

// Close stops serving, waiting up to the context's deadline for requests.
func (r *Registry) Close(ctx context.Context) error {
	err := r.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = r.srv.Close()
	}
	return errors.Join(err, r.app.Shutdown())
}

// Choice is where builds push, as the command line says it.
type Choice struct {
	// External is an external registry's host[:port][/prefix]; empty for
	// the embedded one. Username, Password and Insecure are its
	// credentials and transport (the embedded registry's credentials when
	// it asks for them, see Htpasswd).
	External, Username, Password string
	Insecure                     bool
	// Dir, Addr and Htpasswd start the embedded registry; Advertise is the
	// host:port that names its images when it differs from Addr.
	Dir, Addr, Advertise, Htpasswd string
}

// Open returns the push target c describes, starting the embedded
// registry when it is the one. When another process on the same data
// directory serves it already, embedded is nil and the target is still
// that registry.
func Open(ctx context.Context, c Choice) (target Target, embedded *Registry, err error) {
	if c.External != "" {
		return Target{Host: c.External, Username: c.Username, Password: c.Password, Insecure: c.Insecure}, nil, nil
	}
	addr := c.Addr
	reg, err := Start(ctx, Config{Dir: c.Dir, Addr: c.Addr, HtpasswdPath: c.Htpasswd})
	if err != nil {
		if !Answers(ctx, Target{Host: c.Addr, Insecure: true}) {
			return Target{}, nil, err
		}
	} else {
		embedded, addr = reg, reg.Host()
	}
	host := addr
	if c.Advertise != "" {
		host = c.Advertise
	}
	return Target{Host: host, Insecure: true, Own: true, Username: c.Username, Password: c.Password}, embedded, nil
}
