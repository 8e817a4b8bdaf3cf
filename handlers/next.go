package handlers

import (
	"net/url"
	"strings"
)

// defaultNext is where a sign-in or a language switch goes when the
// requested place is missing or refused.
const defaultNext = "/specs"

// maxNextLen bounds the place a sign-in returns to.
const maxNextLen = 2048

// safeNext turns the untrusted "next" value of a form or query into a
// same-origin path, or defaultNext. It accepts only what parses as a
// relative reference with a path that starts with a single "/" and no
// scheme, host or user; the result is rebuilt from the parsed path and
// query (the fragment is dropped), so only characters URL encoding emits
// reach the Location header: no control characters (CR, LF, TAB), no
// spaces, no backslashes, no "//" that a browser would read as a host.
func safeNext(next string) string {
	if next == "" || len(next) > maxNextLen || next[0] != '/' {
		return defaultNext
	}
	for i := 0; i < len(next); i++ {
		if c := next[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return defaultNext
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return defaultNext
	}
	// The decoded path must stand on its own too: "/%2F/evil" decodes to
	// "//evil", and a backslash or control character may hide behind %xx.
	p := u.Path
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") {
		return defaultNext
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c < ' ' || c == 0x7f || c == '\\' {
			return defaultNext
		}
	}
	query, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return defaultNext
	}
	out := (&url.URL{Path: p, RawQuery: query.Encode()}).String()
	// Encoding may lengthen it ("(" becomes "%28"): what goes out must
	// pass the length check it will meet when it comes back.
	if len(out) > maxNextLen || !isSafeLocation(out) {
		return defaultNext
	}
	return out
}

// isSafeLocation is the final check of what goes into Location: one
// leading "/", then only unreserved, sub-delimiter and percent-encoding
// characters of RFC 3986.
func isSafeLocation(s string) bool {
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-._~!$&'()*+,;=:@/?%", c) >= 0:
		default:
			return false
		}
	}
	return true
}
