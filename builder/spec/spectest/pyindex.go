package spectest

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
)

// Wheel is one distribution the test index serves.
type Wheel struct {
	Name, Version string
	// Requires are Requires-Dist lines, e.g. "gamma>=1.0".
	Requires []string
}

// PyIndex is a PEP 503 simple repository on loopback serving wheels the
// test made itself (no PyPI here), optionally behind HTTP basic auth.
type PyIndex struct {
	// URL is the index URL without credentials (…/simple).
	URL string
	// User and Password, when set, are required by every request.
	User, Password string

	files map[string][]byte   // wheel file name → content
	dists map[string][]string // normalised name → wheel file names

	mu        sync.Mutex
	downloads map[string]int // wheel file name → GETs
}

var normalise = regexp.MustCompile(`[-_.]+`)

// NormalName is PEP 503's normalised project name.
func NormalName(name string) string { return strings.ToLower(normalise.ReplaceAllString(name, "-")) }

// MakeWheel builds a pure-Python wheel: a module <name>/__init__.py with
// __version__, and its .dist-info (METADATA, WHEEL, RECORD with hashes).
func MakeWheel(w Wheel) (file string, content []byte) {
	mod := strings.ReplaceAll(NormalName(w.Name), "-", "_")
	info := fmt.Sprintf("%s-%s.dist-info", mod, w.Version)
	meta := "Metadata-Version: 2.1\nName: " + w.Name + "\nVersion: " + w.Version + "\nSummary: made by an Image Builder test\n"
	for _, r := range w.Requires {
		meta += "Requires-Dist: " + r + "\n"
	}
	entries := []struct{ name, body string }{
		{mod + "/__init__.py", fmt.Sprintf("__version__ = %q\n", w.Version)},
		{info + "/METADATA", meta},
		{info + "/WHEEL", "Wheel-Version: 1.0\nGenerator: imagebuilder-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"},
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	var record strings.Builder
	for _, e := range entries {
		f, _ := zw.Create(e.name)
		_, _ = f.Write([]byte(e.body))
		sum := sha256.Sum256([]byte(e.body))
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", e.name, base64.RawURLEncoding.EncodeToString(sum[:]), len(e.body))
	}
	record.WriteString(info + "/RECORD,,\n")
	f, _ := zw.Create(info + "/RECORD")
	_, _ = f.Write([]byte(record.String()))
	_ = zw.Close()
	return fmt.Sprintf("%s-%s-py3-none-any.whl", mod, w.Version), buf.Bytes()
}

// ServePyIndex starts the index for the test's lifetime.
func ServePyIndex(t testing.TB, user, password string, wheels ...Wheel) *PyIndex {
	t.Helper()
	ix := &PyIndex{User: user, Password: password, files: map[string][]byte{}, dists: map[string][]string{}, downloads: map[string]int{}}
	for _, w := range wheels {
		name, body := MakeWheel(w)
		ix.files[name] = body
		n := NormalName(w.Name)
		ix.dists[n] = append(ix.dists[n], name)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: ix}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	ix.URL = "http://" + ln.Addr().String() + "/simple"
	return ix
}

// AuthURL is URL with the credentials in it, as an administrator would
// enter it.
func (ix *PyIndex) AuthURL() string {
	if ix.User == "" {
		return ix.URL
	}
	return strings.Replace(ix.URL, "http://", "http://"+ix.User+":"+ix.Password+"@", 1)
}

// Downloads is how often each wheel was fetched.
func (ix *PyIndex) Downloads() map[string]int {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	out := map[string]int{}
	for k, v := range ix.downloads {
		out[k] = v
	}
	return out
}

func (ix *PyIndex) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if ix.User != "" {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u+":"+p), []byte(ix.User+":"+ix.Password)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="test index"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
	}
	path := r.URL.Path
	switch {
	case path == "/simple/" || path == "/simple":
		names := make([]string, 0, len(ix.dists))
		for n := range ix.dists {
			names = append(names, n)
		}
		sort.Strings(names)
		var b strings.Builder
		b.WriteString("<!DOCTYPE html><html><body>\n")
		for _, n := range names {
			fmt.Fprintf(&b, "<a href=\"/simple/%s/\">%s</a>\n", n, html.EscapeString(n))
		}
		b.WriteString("</body></html>\n")
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(b.String()))
	case strings.HasPrefix(path, "/simple/"):
		n := NormalName(strings.Trim(strings.TrimPrefix(path, "/simple/"), "/"))
		files, ok := ix.dists[n]
		if !ok {
			http.NotFound(w, r)
			return
		}
		var b strings.Builder
		b.WriteString("<!DOCTYPE html><html><body>\n")
		for _, f := range files {
			sum := sha256.Sum256(ix.files[f])
			fmt.Fprintf(&b, "<a href=\"/files/%s#sha256=%s\">%s</a>\n", f, hex.EncodeToString(sum[:]), f)
		}
		b.WriteString("</body></html>\n")
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(b.String()))
	case strings.HasPrefix(path, "/files/"):
		f := strings.TrimPrefix(path, "/files/")
		body, ok := ix.files[f]
		if !ok {
			http.NotFound(w, r)
			return
		}
		ix.mu.Lock()
		ix.downloads[f]++
		ix.mu.Unlock()
		// As PyPI does: a file never changes, so pip may cache it.
		w.Header().Set("Cache-Control", "max-age=31536000, immutable")
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(body)
	default:
		http.NotFound(w, r)
	}
}
