package spec

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"imagebuilder/builder/message"
)

// Sources are where the package managers look for packages, set by an
// administrator for every build: Pip's index, extra indexes and trusted
// hosts, Conda's channels, and one extra APT source with its key. URLs
// may carry credentials (user:password@ or a Conda /t/<token>/ path);
// those reach a build only as secret files of the step that needs them
// (see SecretFiles), never its Containerfile, a layer or the log.
type Sources struct {
	PipIndexURL       string   `json:"pipIndexURL,omitempty"`
	PipExtraIndexURLs []string `json:"pipExtraIndexURLs,omitempty"`
	PipTrustedHosts   []string `json:"pipTrustedHosts,omitempty"`
	CondaChannels     []string `json:"condaChannels,omitempty"`
	// CondaOverride adds --override-channels: only CondaChannels are
	// searched, not the image's .condarc or the defaults.
	CondaOverride bool `json:"condaOverride,omitempty"`
	// APTSource is one sources.list line ("deb [options] URI suite
	// components") added for the APT step only.
	APTSource string `json:"aptSource,omitempty"`
	// APTKey is the ASCII-armoured public key that signs APTSource's
	// repository (signed-by is added to the line); empty for none.
	APTKey string `json:"aptKey,omitempty"`
}

// Fields of the package sources form, as validation names them.
const (
	FieldPipIndex     = "pipIndexURL"
	FieldPipExtra     = "pipExtraIndexURLs"
	FieldPipTrusted   = "pipTrustedHosts"
	FieldCondaChannel = "condaChannels"
	FieldAPTSource    = "aptSource"
	FieldAPTKey       = "aptKey"
)

// The secret files a build's steps mount (RUN --mount=type=secret,id=…),
// at /run/secrets/<id>.
const (
	SecretPipConf       = "imagebuilder-pip.conf"
	SecretCondaChannels = "imagebuilder-conda-channels"
	SecretAPTList       = "imagebuilder-apt.list"
	SecretAPTKey        = "imagebuilder-apt.asc" // apt reads armoured keys by this suffix
)

// IsZero reports whether no source is set: the package managers use the
// image's own configuration.
func (s Sources) IsZero() bool {
	return s.PipIndexURL == "" && len(s.PipExtraIndexURLs) == 0 && len(s.PipTrustedHosts) == 0 &&
		len(s.CondaChannels) == 0 && !s.CondaOverride && s.APTSource == "" && s.APTKey == ""
}

func (s Sources) pipSet() bool {
	return s.PipIndexURL != "" || len(s.PipExtraIndexURLs) > 0 || len(s.PipTrustedHosts) > 0
}
func (s Sources) condaSet() bool { return len(s.CondaChannels) > 0 || s.CondaOverride }
func (s Sources) aptSet() bool   { return s.APTSource != "" }

// Check lists every problem of s, by field.
func (s Sources) Check() ValidationError {
	var errs ValidationError
	add := func(field string, line int, m message.Message) {
		if !m.IsZero() {
			errs = append(errs, FieldError{Field: field, Line: line, Message: m})
		}
	}
	if s.PipIndexURL != "" {
		add(FieldPipIndex, 0, checkSourceURL(s.PipIndexURL))
	}
	for i, u := range s.PipExtraIndexURLs {
		add(FieldPipExtra, i+1, checkSourceURL(u))
	}
	for i, h := range s.PipTrustedHosts {
		add(FieldPipTrusted, i+1, checkHost(h))
	}
	for i, c := range s.CondaChannels {
		add(FieldCondaChannel, i+1, checkChannel(c))
	}
	if s.CondaOverride && len(s.CondaChannels) == 0 {
		add(FieldCondaChannel, 0, msgf("--override-channels needs at least one channel"))
	}
	if s.APTSource != "" {
		add(FieldAPTSource, 0, checkAPTSource(s.APTSource))
	}
	if s.APTKey != "" {
		if s.APTSource == "" {
			add(FieldAPTKey, 0, msgf("a key needs an APT source line"))
		}
		add(FieldAPTKey, 0, checkArmouredKey(s.APTKey))
	}
	return errs
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

func checkSourceURL(raw string) message.Message {
	if hasControl(raw) || strings.ContainsAny(raw, " \t") {
		return msgf("%q contains a space or a control character", raw)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return msgf("%q is not an http:// or https:// URL", Redact(raw))
	}
	return message.Message{}
}

var hostPattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)

func checkHost(h string) message.Message {
	host := h
	if hh, port, err := net.SplitHostPort(h); err == nil {
		host = hh
		if port == "" || strings.Trim(port, "0123456789") != "" {
			return msgf("%q is not a host or host:port", h)
		}
	}
	if net.ParseIP(strings.Trim(host, "[]")) == nil && !hostPattern.MatchString(host) {
		return msgf("%q is not a host or host:port", h)
	}
	return message.Message{}
}

var channelName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]*$`)

func checkChannel(c string) message.Message {
	if strings.Contains(c, "://") {
		return checkSourceURL(c)
	}
	if !channelName.MatchString(c) {
		return msgf("%q is neither a channel name nor an http(s) URL", c)
	}
	return message.Message{}
}

var aptOptions = regexp.MustCompile(`^\[[^\]\n]*\]$`)

// checkAPTSource accepts one-line-style "deb [options] URI suite [components]".
func checkAPTSource(line string) message.Message {
	if hasControl(line) {
		return msgf("the APT source must be one line")
	}
	f := strings.Fields(line)
	if len(f) > 0 && f[0] == "deb-src" {
		return msgf("deb-src lines fetch source packages, which builds never use: give a \"deb\" line")
	}
	if len(f) == 0 || f[0] != "deb" {
		return msgf("the APT source must start with \"deb\"")
	}
	f = f[1:]
	if len(f) > 0 && strings.HasPrefix(f[0], "[") {
		end := 0
		for end < len(f) && !strings.HasSuffix(f[end], "]") {
			end++
		}
		if end == len(f) || !aptOptions.MatchString(strings.Join(f[:end+1], " ")) {
			return msgf("the options in [ ] are not closed")
		}
		f = f[end+1:]
	}
	if len(f) < 2 {
		return msgf("write \"deb [options] URI suite [components]\"")
	}
	if m := checkSourceURL(f[0]); !m.IsZero() {
		return m
	}
	if strings.HasSuffix(f[1], "/") && len(f) > 2 {
		return msgf("a suite ending in / takes no components")
	}
	return message.Message{}
}

func checkArmouredKey(key string) message.Message {
	k := strings.TrimSpace(key)
	if !strings.HasPrefix(k, "-----BEGIN PGP PUBLIC KEY BLOCK-----") || !strings.HasSuffix(k, "-----END PGP PUBLIC KEY BLOCK-----") {
		return msgf("paste an ASCII-armoured public key (-----BEGIN PGP PUBLIC KEY BLOCK-----)")
	}
	return message.Message{}
}

// condaToken is the token path segment of anaconda.org-style channel URLs.
var condaToken = regexp.MustCompile(`/t/[^/]+`)

// Redact returns raw with a URL's password and any Conda token replaced
// by "****" (a user name stays: it says whose credentials are used).
// Text that is not a URL comes back as it is.
func Redact(raw string) string {
	out := raw
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "****")
		} else {
			u.User = url.User("****")
		}
		out = strings.Replace(u.String(), "%2A%2A%2A%2A", "****", 1) // some Go versions escape it
	}
	return condaToken.ReplaceAllString(out, "/t/****")
}

// Redacted is s with every credential replaced by "****": what pages,
// logs and job records show.
func (s Sources) Redacted() Sources {
	r := s
	r.PipIndexURL = Redact(s.PipIndexURL)
	r.PipExtraIndexURLs = mapStrings(s.PipExtraIndexURLs, Redact)
	r.CondaChannels = mapStrings(s.CondaChannels, Redact)
	if s.APTSource != "" {
		f := strings.Fields(s.APTSource)
		r.APTSource = strings.Join(mapStrings(f, Redact), " ")
	}
	return r
}

func mapStrings(in []string, f func(string) string) []string {
	if in == nil {
		return nil
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = f(s)
	}
	return out
}

// Credentials lists the secret parts of s (passwords, tokens, user
// information), longest first, so a log filter can mask them.
func (s Sources) Credentials() []string {
	var out []string
	add := func(raw string) {
		if u, err := url.Parse(raw); err == nil && u.User != nil {
			if p, ok := u.User.Password(); ok && p != "" {
				out = append(out, p, url.QueryEscape(p), u.User.String())
			} else if n := u.User.Username(); n != "" {
				out = append(out, n)
			}
		}
		for _, t := range condaToken.FindAllString(raw, -1) {
			out = append(out, strings.TrimPrefix(t, "/t/"))
		}
	}
	add(s.PipIndexURL)
	for _, u := range s.PipExtraIndexURLs {
		add(u)
	}
	for _, c := range s.CondaChannels {
		add(c)
	}
	for _, f := range strings.Fields(s.APTSource) {
		add(f)
	}
	seen := map[string]bool{}
	uniq := out[:0]
	for _, c := range out {
		if len(c) >= 3 && !seen[c] {
			seen[c] = true
			uniq = append(uniq, c)
		}
	}
	// Longest first: a password inside a longer user:password is masked whole.
	slices.SortStableFunc(uniq, func(a, b string) int { return len(b) - len(a) })
	return uniq
}

// SecretFiles are the files the steps mount, by secret id; only the
// sources that are set have one.
func (s Sources) SecretFiles() map[string][]byte {
	files := map[string][]byte{}
	if s.pipSet() {
		var b strings.Builder
		b.WriteString("# Written by Image Builder for one build step.\n[global]\n")
		if s.PipIndexURL != "" {
			b.WriteString("index-url = " + s.PipIndexURL + "\n")
		}
		writeMulti(&b, "extra-index-url", s.PipExtraIndexURLs)
		writeMulti(&b, "trusted-host", s.PipTrustedHosts)
		files[SecretPipConf] = []byte(b.String())
	}
	if len(s.CondaChannels) > 0 {
		files[SecretCondaChannels] = []byte(strings.Join(s.CondaChannels, "\n") + "\n")
	}
	if s.aptSet() {
		line := s.APTSource
		if s.APTKey != "" && !strings.Contains(line, "signed-by=") {
			line = withAPTOption(line, "signed-by=/run/secrets/"+SecretAPTKey)
		}
		files[SecretAPTList] = []byte(line + "\n")
		if s.APTKey != "" {
			files[SecretAPTKey] = []byte(strings.TrimSpace(s.APTKey) + "\n")
		}
	}
	return files
}

func writeMulti(b *strings.Builder, key string, values []string) {
	if len(values) == 0 {
		return
	}
	b.WriteString(key + " =")
	for _, v := range values {
		b.WriteString("\n    " + v)
	}
	b.WriteString("\n")
}

// withAPTOption adds opt to a "deb [...] ..." line's options.
func withAPTOption(line, opt string) string {
	rest := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "deb"))
	if strings.HasPrefix(rest, "[") {
		return "deb [" + opt + " " + strings.TrimPrefix(rest, "[")
	}
	return "deb [" + opt + "] " + rest
}

// fingerprint names the credential-free content of one manager's sources,
// so a step's text (its cache key) changes when they do; "" when unset.
func fingerprint(v any) string {
	raw, _ := json.Marshal(v)
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:6])
}

func (s Sources) pipFingerprint() string {
	if !s.pipSet() {
		return ""
	}
	r := s.Redacted()
	return fingerprint([]any{r.PipIndexURL, r.PipExtraIndexURLs, r.PipTrustedHosts})
}

func (s Sources) condaFingerprint() string {
	if !s.condaSet() {
		return ""
	}
	r := s.Redacted()
	return fingerprint([]any{r.CondaChannels, r.CondaOverride})
}

func (s Sources) aptFingerprint() string {
	if !s.aptSet() {
		return ""
	}
	r := s.Redacted()
	return fingerprint([]any{r.APTSource, r.APTKey})
}

// Summary is s in one line, for a build log (call it on Redacted).
func (s Sources) Summary() string {
	var parts []string
	if s.PipIndexURL != "" {
		parts = append(parts, "pip index "+s.PipIndexURL)
	}
	if len(s.PipExtraIndexURLs) > 0 {
		parts = append(parts, "pip extra indexes "+strings.Join(s.PipExtraIndexURLs, " "))
	}
	if len(s.PipTrustedHosts) > 0 {
		parts = append(parts, "pip trusted hosts "+strings.Join(s.PipTrustedHosts, " "))
	}
	if len(s.CondaChannels) > 0 {
		c := "conda channels " + strings.Join(s.CondaChannels, " ")
		if s.CondaOverride {
			c += " (--override-channels)"
		}
		parts = append(parts, c)
	}
	if s.APTSource != "" {
		a := "APT source " + s.APTSource
		if s.APTKey != "" {
			a += " (with key)"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, "; ")
}
