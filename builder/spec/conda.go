package spec

import (
	"imagebuilder/builder/message"

	"regexp"
	"sort"
	"strings"
)

// CondaSpec is a parsed conda package match specification:
//
//	(channel(/subdir):(namespace):)name(version(build))[key1=value1,key2=value2]
type CondaSpec struct {
	Channel   string
	Subdir    string
	Namespace string
	Name      string
	Version   string
	Build     string
	// Keys holds the bracket options in the order written, values unquoted.
	Keys []CondaKey
}

// CondaKey is one key=value of the bracket section.
type CondaKey struct {
	Key, Value string
}

// String renders the spec back in canonical form.
func (c CondaSpec) String() string {
	var b strings.Builder
	if c.Channel != "" {
		b.WriteString(c.Channel)
		if c.Subdir != "" {
			b.WriteString("/" + c.Subdir)
		}
		b.WriteString(":" + c.Namespace + ":")
	}
	b.WriteString(c.Name)
	if c.Version != "" {
		b.WriteString(" " + c.Version)
		if c.Build != "" {
			b.WriteString(" " + c.Build)
		}
	}
	if len(c.Keys) > 0 {
		parts := make([]string, len(c.Keys))
		for i, k := range c.Keys {
			parts[i] = k.Key + "='" + k.Value + "'"
		}
		b.WriteString("[" + strings.Join(parts, ",") + "]")
	}
	return b.String()
}

// condaBracketKeys are the keys conda's MatchSpec accepts in brackets.
var condaBracketKeys = map[string]bool{
	"build": true, "build_number": true, "channel": true, "subdir": true, "url": true,
	"md5": true, "sha256": true, "license": true, "license_family": true, "fn": true,
	"features": true, "track_features": true, "version": true, "name": true, "namespace": true,
	"target": true,
}

// condaSubdirs are the platform subdirectories a channel may be followed by.
var condaSubdirs = map[string]bool{
	"noarch": true, "linux-32": true, "linux-64": true, "linux-aarch64": true,
	"linux-armv6l": true, "linux-armv7l": true, "linux-ppc64": true, "linux-ppc64le": true,
	"linux-s390x": true, "linux-riscv64": true, "osx-64": true, "osx-arm64": true,
	"win-32": true, "win-64": true, "win-arm64": true, "zos-z": true, "emscripten-wasm32": true,
	"wasi-wasm32": true, "freebsd-64": true,
}

var (
	condaName      = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.+-]*$`)
	condaChannel   = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)
	condaChanURL   = regexp.MustCompile(`^(?:https?|file)://[A-Za-z0-9._~:/%@+-]+$`)
	condaNamespace = regexp.MustCompile(`^[A-Za-z0-9_.-]*$`)
	condaVersionTk = regexp.MustCompile(`^[A-Za-z0-9_.*+!]+$`)
	condaBuild     = regexp.MustCompile(`^[A-Za-z0-9_.*+]+$`)
	condaKeyValue  = regexp.MustCompile(`^[A-Za-z0-9_.*+!<>=,|~:/@%-]+$`)
)

// condaOperators in the order they must be tried (longest first).
var condaOperators = []string{"===", "==", "!=", "<=", ">=", "~=", "<", ">", "="}

// ParseCondaSpec parses one conda match spec line.
func ParseCondaSpec(text string) (CondaSpec, error) {
	var c CondaSpec
	s := strings.TrimSpace(text)

	// Bracket section: must close at the very end, and only one is allowed.
	if i := strings.IndexByte(s, '['); i >= 0 {
		if !strings.HasSuffix(s, "]") {
			if strings.LastIndexByte(s, ']') < 0 {
				return c, msgf("'[' is never closed with ']'")
			}
			return c, msgf("the [key=value] section must come last, found %q after it", s[strings.LastIndexByte(s, ']')+1:])
		}
		if strings.Count(s, "[") > 1 || strings.Count(s, "]") > 1 {
			return c, msgf("only one [key=value] section is allowed, at the end")
		}
		keys, err := parseCondaBrackets(s[i+1 : len(s)-1])
		if err != nil {
			return c, err
		}
		c.Keys = keys
		s = strings.TrimSpace(s[:i])
	} else if strings.IndexByte(s, ']') >= 0 {
		return c, msgf("']' has no matching '['")
	}
	if strings.ContainsAny(s, "[]") {
		return c, msgf("only one [key=value] section is allowed, at the end")
	}

	// Channel, subdir and namespace: "channel(/subdir):(namespace):name...".
	if strings.Contains(s, ":") {
		// The name part cannot hold ':', so split at the last two colons; a
		// URL channel keeps its own "://".
		last := strings.LastIndexByte(s, ':')
		head, rest := s[:last], s[last+1:]
		ns := ""
		if j := strings.LastIndexByte(head, ':'); j >= 0 && !strings.HasPrefix(head[j:], "://") {
			head, ns = head[:j], head[j+1:]
		} else {
			return c, msgf("a channel is written as channel::name (two colons), e.g. conda-forge::numpy")
		}
		if head == "" {
			return c, msgf("the channel before '::' is empty")
		}
		if !condaNamespace.MatchString(ns) {
			return c, msgf("%q is not a valid namespace", ns)
		}
		c.Namespace = ns
		if err := c.setChannel(head); err != nil {
			return c, err
		}
		s = strings.TrimSpace(rest)
	}

	// Name, then version and build.
	if s == "" {
		return c, msgf("a package name is required")
	}
	var nameEnd int
	if strings.ContainsAny(s, " \t") {
		f := strings.Fields(s)
		// "numpy >= 1.8" means "numpy >=1.8": join a lone operator to its version.
		for i := 1; i+1 < len(f); i++ {
			if strings.Trim(f[i], "<>=!~") == "" {
				f = append(f[:i], append([]string{f[i] + f[i+1]}, f[i+2:]...)...)
			}
		}
		if len(f) > 3 {
			return c, msgf("%q has too many parts; write name, version and build at most, and put each package on its own line", s)
		}
		c.Name = f[0]
		if !condaName.MatchString(c.Name) {
			return c, condaNameError(c.Name)
		}
		if len(f) >= 2 {
			c.Version = f[1]
		}
		if len(f) == 3 {
			c.Build = f[2]
		}
	} else {
		nameEnd = strings.IndexAny(s, "<>=!~")
		if nameEnd < 0 {
			nameEnd = len(s)
		}
		c.Name = s[:nameEnd]
		if c.Name == "" {
			return c, msgf("a package name is required before %q", s)
		}
		if !condaName.MatchString(c.Name) {
			return c, condaNameError(c.Name)
		}
		if v := s[nameEnd:]; v != "" {
			c.Version, c.Build = splitCondaVersionBuild(v)
		}
	}
	if c.Version != "" {
		if err := checkCondaVersion(c.Version); err != nil {
			return c, err
		}
	}
	if c.Build != "" && !condaBuild.MatchString(c.Build) {
		return c, msgf("%q is not a valid build string", c.Build)
	}
	for _, k := range c.Keys {
		switch k.Key {
		case "version":
			if c.Version != "" {
				return c, msgf("the version is given twice: %q and [version=%q]", c.Version, k.Value)
			}
			if err := checkCondaVersion(k.Value); err != nil {
				return c, err
			}
		case "build":
			if c.Build != "" {
				return c, msgf("the build is given twice: %q and [build=%q]", c.Build, k.Value)
			}
		}
	}
	return c, nil
}

func condaNameError(name string) error {
	return msgf("%q is not a valid conda package name (letters, digits, '_', '-', '.' and '+')", name)
}

func (c *CondaSpec) setChannel(ch string) error {
	if i := strings.LastIndexByte(ch, '/'); i >= 0 && condaSubdirs[ch[i+1:]] {
		ch, c.Subdir = ch[:i], ch[i+1:]
	}
	if strings.Contains(ch, "://") {
		if !condaChanURL.MatchString(ch) {
			return msgf("%q is not a valid channel URL", ch)
		}
	} else if !condaChannel.MatchString(ch) {
		if strings.Contains(ch, "/") {
			return msgf("%q is not a valid channel; a subdir after '/' must be a platform such as linux-64 or noarch", ch)
		}
		return msgf("%q is not a valid channel name", ch)
	}
	c.Channel = ch
	return nil
}

// splitCondaVersionBuild handles the compact forms: "==1.17*", ">=1.8,<2",
// "=1.11.1|1.11.3" and "=1.11.1=py36_0" (version then build).
func splitCondaVersionBuild(v string) (version, build string) {
	if strings.HasPrefix(v, "=") && !strings.HasPrefix(v, "==") {
		body := v[1:]
		if i := strings.LastIndexByte(body, '='); i > 0 && !strings.ContainsAny(body[i-1:i], "<>=!~") {
			return "=" + body[:i], body[i+1:]
		}
	}
	return v, ""
}

// checkCondaVersion validates a version expression: constraints joined by
// ',' (and) and '|' (or), optionally grouped in parentheses.
func checkCondaVersion(v string) error {
	depth := 0
	for _, r := range v {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
			if depth < 0 {
				return msgf("')' in version %q has no matching '('", v)
			}
		}
	}
	if depth != 0 {
		return msgf("'(' in version %q is never closed", v)
	}
	flat := strings.NewReplacer("(", "", ")", "").Replace(v)
	for _, alt := range strings.Split(flat, "|") {
		for _, c := range strings.Split(alt, ",") {
			if err := checkCondaConstraint(strings.TrimSpace(c), v); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkCondaConstraint(c, whole string) error {
	if c == "" {
		return msgf("version %q has an empty constraint (check ',' and '|')", whole)
	}
	i := 0
	for i < len(c) && strings.IndexByte("<>=!~", c[i]) >= 0 {
		i++
	}
	op, ver := c[:i], strings.TrimSpace(c[i:])
	if op != "" {
		known := false
		for _, o := range condaOperators {
			if op == o {
				known = true
			}
		}
		if !known {
			return msgf("unknown version operator %q in %q; use one of ==, !=, <=, >=, <, >, ~=, =", op, whole)
		}
	}
	if ver == "" {
		return msgf("a version must follow %q in %q", op, whole)
	}
	if !condaVersionTk.MatchString(ver) {
		return msgf("%q is not a valid version in %q", ver, whole)
	}
	return nil
}

func parseCondaBrackets(body string) ([]CondaKey, error) {
	var keys []CondaKey
	seen := map[string]bool{}
	s := strings.TrimSpace(body)
	if s == "" {
		return nil, msgf("the [ ] section is empty; write key=value pairs such as [build=py36_0]")
	}
	for s != "" {
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return nil, msgf("%q in [ ] is not key=value", s)
		}
		key := strings.TrimSpace(s[:eq])
		if !condaBracketKeys[key] {
			known := make([]string, 0, len(condaBracketKeys))
			for k := range condaBracketKeys {
				known = append(known, k)
			}
			sort.Strings(known)
			return nil, msgf("unknown key %q in [ ]; known keys: %s", key, strings.Join(known, ", "))
		}
		if seen[key] {
			return nil, msgf("key %q appears twice in [ ]", key)
		}
		seen[key] = true
		s = strings.TrimSpace(s[eq+1:])
		var val string
		if s != "" && (s[0] == '\'' || s[0] == '"') {
			end := strings.IndexByte(s[1:], s[0])
			if end < 0 {
				return nil, msgf("the quoted value of %q is never closed", key)
			}
			val = s[1 : end+1]
			s = strings.TrimSpace(s[end+2:])
		} else {
			end := strings.IndexByte(s, ',')
			if end < 0 {
				end = len(s)
			}
			val = strings.TrimSpace(s[:end])
			s = s[end:]
		}
		if val == "" {
			return nil, msgf("key %q in [ ] has an empty value", key)
		}
		if !condaKeyValue.MatchString(val) {
			return nil, msgf("the value %q of %q has characters conda does not accept", val, key)
		}
		keys = append(keys, CondaKey{Key: key, Value: val})
		if s == "" {
			break
		}
		if s[0] != ',' {
			return nil, msgf("unexpected %q in [ ]; separate key=value pairs with ','", s)
		}
		s = strings.TrimSpace(s[1:])
		if s == "" {
			return nil, msgf("[ ] ends with a ','")
		}
	}
	return keys, nil
}

func checkCondaLine(text string) message.Message {
	if _, err := ParseCondaSpec(text); err != nil {
		return message.Of(err)
	}
	return message.Message{}
}

func condaKey(text string) string {
	c, err := ParseCondaSpec(text)
	if err != nil {
		return text
	}
	return strings.ToLower(c.Name)
}
