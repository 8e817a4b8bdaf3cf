package handlers

import (
	"net/url"
	"testing"
)

func TestSafeNextKeepsPortalPathsAndRefusesTheRest(t *testing.T) {
	for in, want := range map[string]string{
		"/specs":                    "/specs",
		"/specs/data-tools/jobs":    "/specs/data-tools/jobs",
		"/jobs/3?from=10":           "/jobs/3?from=10",
		"/specs?q=a+b&status=built": "/specs?q=a+b&status=built",
		"/specs#frag":               "/specs",
		"":                          defaultNext,
		"specs":                     defaultNext,
		"//evil.example/pwned":      defaultNext,
		"/\\evil.example":           defaultNext,
		"/\t/evil.example/pwned":    defaultNext,
		"/\r/evil.example/pwned":    defaultNext,
		"/%2F/evil.example":         defaultNext,
		"/%5Cevil.example":          defaultNext,
		"/%0d%0aX-Injected:%201":    defaultNext,
		"/\r\nX-Injected: 1\r\nSet-Cookie: injected=1; Path=/": defaultNext,
		"https://evil.example/":                                defaultNext,
		"/ space":                                              defaultNext,
		"/caf\u00e9":                                           defaultNext,
		"/a?x=%0d%0aSet-Cookie:%20":                            "/a?x=%0D%0ASet-Cookie%3A+",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzSafeNext: whatever comes in, what goes out is a same-origin path made
// only of safe characters, which resolves to the portal's own host.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/specs", "/jobs/1?from=2", "//x", "/\\x", "/\t/x", "/%2F%2Fx", "/%0d%0a", "/a?b=c#d", "http://x/"} {
		f.Add(s)
	}
	base, _ := url.Parse("http://portal.example:8080/login")
	f.Fuzz(func(t *testing.T, in string) {
		out := safeNext(in)
		if !isSafeLocation(out) {
			t.Fatalf("safeNext(%q) = %q has unsafe characters", in, out)
		}
		u, err := url.Parse(out)
		if err != nil {
			t.Fatalf("safeNext(%q) = %q does not parse: %v", in, out, err)
		}
		if r := base.ResolveReference(u); r.Host != base.Host || r.Scheme != base.Scheme {
			t.Fatalf("safeNext(%q) = %q leaves the origin: %s", in, out, r)
		}
		if safeNext(out) != out {
			t.Fatalf("safeNext is not stable on its own output %q", out)
		}
	})
}
