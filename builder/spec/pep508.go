package spec

import (
	"imagebuilder/builder/message"

	"regexp"
	"strings"
)

// PipRequirement is a parsed PEP 508 requirement line.
type PipRequirement struct {
	Name      string
	Extras    []string
	Specifier string // e.g. ">=1.0,<2" (empty for none)
	URL       string // for "name @ URL"
	Marker    string // environment marker after ';'
}

// ParsePipRequirement parses one PEP 508 requirement.
func ParsePipRequirement(text string) (PipRequirement, error) {
	p := &pepParser{s: text}
	return p.requirement()
}

func checkPipLine(text string) message.Message {
	if _, err := ParsePipRequirement(text); err != nil {
		return message.Of(err)
	}
	return message.Message{}
}

var pepNormalize = regexp.MustCompile(`[-_.]+`)

// pipKey is the PEP 503 normalized project name.
func pipKey(text string) string {
	r, err := ParsePipRequirement(text)
	if err != nil {
		return text
	}
	return pepNormalize.ReplaceAllString(strings.ToLower(r.Name), "-")
}

type pepParser struct {
	s   string
	pos int
}

func (p *pepParser) ws() {
	for p.pos < len(p.s) && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t') {
		p.pos++
	}
}

func (p *pepParser) peek() byte {
	if p.pos < len(p.s) {
		return p.s[p.pos]
	}
	return 0
}

func (p *pepParser) rest() string { return p.s[p.pos:] }

func isIdentByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// identifier: letterOrDigit ( (letterOrDigit | '-' | '_' | '.')* letterOrDigit )?
// It reads a project name, or an extra's name when extra is set.
func (p *pepParser) identifier(extra bool) (string, error) {
	start := p.pos
	if !isIdentByte(p.peek()) {
		switch {
		case p.pos >= len(p.s) && extra:
			return "", msgf("an extra name is missing at the end")
		case p.pos >= len(p.s):
			return "", msgf("a project name is missing at the end")
		case extra:
			return "", msgf("an extra name must start with a letter or digit, found %q", p.rest())
		}
		return "", msgf("a project name must start with a letter or digit, found %q", p.rest())
	}
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		if isIdentByte(c) || c == '-' || c == '_' || c == '.' {
			p.pos++
			continue
		}
		break
	}
	id := p.s[start:p.pos]
	if last := id[len(id)-1]; !isIdentByte(last) {
		if extra {
			return "", msgf("extra name %q must end with a letter or digit", id)
		}
		return "", msgf("project name %q must end with a letter or digit", id)
	}
	return id, nil
}

func (p *pepParser) requirement() (PipRequirement, error) {
	var r PipRequirement
	p.ws()
	name, err := p.identifier(false)
	if err != nil {
		return r, err
	}
	r.Name = name
	p.ws()
	if p.peek() == '[' {
		if r.Extras, err = p.extras(); err != nil {
			return r, err
		}
		p.ws()
	}
	switch c := p.peek(); {
	case c == '@':
		p.pos++
		p.ws()
		if r.URL, err = p.url(); err != nil {
			return r, err
		}
		if p.pos < len(p.s) {
			// PEP 508: a URL must be followed by whitespace before a marker.
			if p.peek() != ' ' && p.peek() != '\t' {
				return r, msgf("unexpected %q after the URL", p.rest())
			}
			p.ws()
		}
	case c == '(' || strings.IndexByte("<>=!~", c) >= 0:
		if r.Specifier, err = p.versionSpec(); err != nil {
			return r, err
		}
		p.ws()
	}
	if p.peek() == ';' {
		p.pos++
		p.ws()
		start := p.pos
		if err := p.markerOr(); err != nil {
			return r, err
		}
		r.Marker = strings.TrimSpace(p.s[start:p.pos])
		p.ws()
	}
	if p.pos < len(p.s) {
		rest := p.rest()
		if isIdentByte(rest[0]) {
			return r, msgf("unexpected %q: put one requirement on each line", rest)
		}
		return r, msgf("unexpected %q; expected a version specifier (e.g. >=1.0), extras in [ ], '@ URL' or '; marker'", rest)
	}
	return r, nil
}

func (p *pepParser) extras() ([]string, error) {
	p.pos++ // '['
	var out []string
	p.ws()
	if p.peek() == ']' {
		p.pos++
		return out, nil
	}
	for {
		p.ws()
		e, err := p.identifier(true)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
		p.ws()
		switch p.peek() {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return out, nil
		case 0:
			return nil, msgf("'[' of the extras is never closed with ']'")
		default:
			return nil, msgf("unexpected %q in the extras; separate extras with ','", p.rest())
		}
	}
}

var pipOperators = []string{"===", "~=", "==", "!=", "<=", ">=", "<", ">"}

var pipVersion = regexp.MustCompile(`^[A-Za-z0-9_.*+!-]+$`)

func (p *pepParser) versionSpec() (string, error) {
	start := p.pos
	paren := p.peek() == '('
	if paren {
		p.pos++
	}
	for {
		p.ws()
		op := ""
		for _, o := range pipOperators {
			if strings.HasPrefix(p.rest(), o) {
				op = o
				break
			}
		}
		if op == "" {
			run := p.rest()
			i := 0
			for i < len(run) && strings.IndexByte("<>=!~", run[i]) >= 0 {
				i++
			}
			if i == 0 {
				return "", msgf("a version comparison (==, !=, <=, >=, <, >, ~=, ===) is expected, found %q", run)
			}
			return "", msgf("unknown version operator %q; use one of ==, !=, <=, >=, <, >, ~=, ===", run[:i])
		}
		p.pos += len(op)
		p.ws()
		vs := p.pos
		for p.pos < len(p.s) && !strings.ContainsRune(" \t,;)", rune(p.s[p.pos])) {
			p.pos++
		}
		v := p.s[vs:p.pos]
		if v == "" {
			return "", msgf("a version must follow %q", op)
		}
		if !pipVersion.MatchString(v) || strings.ContainsAny(v[:1], "<>=!~") {
			return "", msgf("%q is not a valid version after %q", v, op)
		}
		if strings.Contains(v, "*") && op != "==" && op != "!=" {
			return "", msgf("a wildcard version such as %q works only with == or !=", v)
		}
		p.ws()
		if p.peek() != ',' {
			break
		}
		p.pos++
	}
	if paren {
		if p.peek() != ')' {
			return "", msgf("'(' of the version specifier is never closed with ')'")
		}
		p.pos++
	}
	spec := strings.TrimSpace(p.s[start:p.pos])
	spec = strings.TrimSuffix(strings.TrimPrefix(spec, "("), ")")
	return strings.Join(strings.Fields(spec), ""), nil
}

var (
	pipURL        = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-]+$`)
	pipURLSchemes = map[string]bool{"http": true, "https": true, "file": true,
		"git+http": true, "git+https": true, "git+ssh": true, "git+file": true,
		"hg+http": true, "hg+https": true, "svn+http": true, "svn+https": true, "bzr+https": true}
)

func (p *pepParser) url() (string, error) {
	start := p.pos
	for p.pos < len(p.s) && p.s[p.pos] != ' ' && p.s[p.pos] != '\t' {
		p.pos++
	}
	u := p.s[start:p.pos]
	if u == "" {
		return "", msgf("a URL must follow '@'")
	}
	if !pipURL.MatchString(u) {
		return "", msgf("%q is not a valid URL (e.g. https://example.com/pkg-1.0.tar.gz)", u)
	}
	scheme := strings.ToLower(u[:strings.Index(u, "://")])
	if !pipURLSchemes[scheme] {
		return "", msgf("URL scheme %q is not supported; use https, http, file or git+https", scheme)
	}
	return u, nil
}

var markerVars = map[string]bool{
	"python_version": true, "python_full_version": true, "os_name": true, "sys_platform": true,
	"platform_release": true, "platform_system": true, "platform_version": true,
	"platform_machine": true, "platform_python_implementation": true,
	"implementation_name": true, "implementation_version": true, "extra": true,
	"os.name": true, "sys.platform": true, "platform.version": true, "platform.machine": true,
	"platform.python_implementation": true, "python_implementation": true,
}

// markerOr: markerAnd ('or' markerAnd)*
func (p *pepParser) markerOr() error {
	if err := p.markerAnd(); err != nil {
		return err
	}
	for p.keyword("or") {
		if err := p.markerAnd(); err != nil {
			return err
		}
	}
	return nil
}

func (p *pepParser) markerAnd() error {
	if err := p.markerExpr(); err != nil {
		return err
	}
	for p.keyword("and") {
		if err := p.markerExpr(); err != nil {
			return err
		}
	}
	return nil
}

// keyword consumes ws + word + ws if word follows as a whole word.
func (p *pepParser) keyword(word string) bool {
	save := p.pos
	p.ws()
	if strings.HasPrefix(p.rest(), word) {
		after := p.pos + len(word)
		if after == len(p.s) || !isIdentByte(p.s[after]) && p.s[after] != '_' {
			p.pos = after
			p.ws()
			return true
		}
	}
	p.pos = save
	return false
}

func (p *pepParser) markerExpr() error {
	p.ws()
	if p.peek() == '(' {
		p.pos++
		if err := p.markerOr(); err != nil {
			return err
		}
		p.ws()
		if p.peek() != ')' {
			return msgf("'(' in the environment marker is never closed with ')'")
		}
		p.pos++
		return nil
	}
	if err := p.markerVar(); err != nil {
		return err
	}
	p.ws()
	if err := p.markerOp(); err != nil {
		return err
	}
	p.ws()
	return p.markerVar()
}

func (p *pepParser) markerVar() error {
	c := p.peek()
	if c == '\'' || c == '"' {
		end := strings.IndexByte(p.s[p.pos+1:], c)
		if end < 0 {
			return msgf("a quoted string in the environment marker is never closed")
		}
		p.pos += end + 2
		return nil
	}
	start := p.pos
	for p.pos < len(p.s) && (isIdentByte(p.s[p.pos]) || p.s[p.pos] == '_' || p.s[p.pos] == '.') {
		p.pos++
	}
	v := p.s[start:p.pos]
	if v == "" {
		if p.pos >= len(p.s) {
			return msgf("the environment marker ends too early")
		}
		return msgf("unexpected %q in the environment marker", p.rest())
	}
	if !markerVars[v] {
		return msgf("%q is not an environment marker variable (e.g. python_version, sys_platform)", v)
	}
	return nil
}

func (p *pepParser) markerOp() error {
	for _, o := range append([]string{"not in", "in"}, pipOperators...) {
		if o == "in" || o == "not in" {
			save := p.pos
			if p.keyword(strings.Fields(o)[0]) && (o == "in" || p.keyword("in")) {
				return nil
			}
			p.pos = save
			continue
		}
		if strings.HasPrefix(p.rest(), o) {
			p.pos += len(o)
			return nil
		}
	}
	return msgf("a comparison (==, !=, <, >, <=, >=, ~=, in, not in) is expected in the environment marker, found %q", p.rest())
}
