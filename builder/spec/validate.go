package spec

import (
	"fmt"
	"regexp"
	"strings"

	"go.podman.io/image/v5/docker/reference"

	"imagebuilder/builder/message"
	"imagebuilder/db/failure"
	"imagebuilder/db/imagespec"
)

// Field names used in validation errors. They match the JSON keys of a spec
// and the form fields of the portal.
const (
	FieldName       = "name"
	FieldBaseImage  = "baseImage"
	FieldPullSecret = "pullSecret"
	ListAPT         = "apt"
	ListConda       = "conda"
	ListPip         = "pip"
)

// MaxNameLength is the longest spec name accepted.
const MaxNameLength = 63

// Bounds of a package list. Each line reaches the package manager as one
// argument and a whole list as one command line, which the kernel caps at
// 128 KiB per argument and about 2 MiB in all; real package lines are far
// shorter (a Pip "name @ URL" line is the longest kind).
const (
	MaxLineLength = 1000 // bytes in one line, comments included
	MaxListLines  = 500  // lines in one list, blank and comment lines included
)

// FieldError is one problem with one field of a spec, or with one line of a
// package list (Line counts from 1; 0 means the field as a whole).
type FieldError struct {
	Field   string
	Line    int
	Message message.Message
}

func (e FieldError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.Field, e.Line, e.Message)
	}
	return e.Field + ": " + e.Message.String()
}

// ValidationError lists every problem found in a spec, in field order.
type ValidationError []FieldError

func (v ValidationError) Error() string {
	lines := make([]string, len(v))
	for i, e := range v {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Failure is invalid-spec, with the problems on one line.
func (v ValidationError) Failure() *failure.Failure {
	problems := strings.ReplaceAll(v.Error(), "\n", "; ")
	return failure.New(failure.InvalidSpec, "invalid spec: "+problems, problems)
}

// For returns the errors about one field, for showing next to it.
func (v ValidationError) For(field string) []FieldError {
	var out []FieldError
	for _, e := range v {
		if e.Field == field {
			out = append(out, e)
		}
	}
	return out
}

// PackageLine is one meaningful line of a package list: its text with
// surrounding blanks trimmed and its 1-based line number in the list.
type PackageLine struct {
	Line int
	Text string
}

// PackageLines drops blank lines and '#' comments (whole-line, or after
// whitespace at the end of a line) and trims the rest.
func PackageLines(list []string) []PackageLine {
	var out []PackageLine
	for i, raw := range list {
		text := raw
		if j := strings.Index(text, "#"); j == 0 || (j > 0 && (text[j-1] == ' ' || text[j-1] == '\t')) {
			text = text[:j]
		}
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		out = append(out, PackageLine{Line: i + 1, Text: text})
	}
	return out
}

// SplitLines turns a textarea value into list lines (CRLF tolerant).
func SplitLines(s string) []string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// Validate checks every field and every package line of spec and returns a
// ValidationError listing all problems, or nil.
func Validate(spec imagespec.Spec) error {
	var errs ValidationError
	for _, msg := range NameProblems(spec.Name) {
		errs = append(errs, FieldError{Field: FieldName, Message: msg})
	}
	if msg := CheckImageReference(spec.BaseImage); !msg.IsZero() {
		errs = append(errs, FieldError{Field: FieldBaseImage, Message: msg})
	}
	errs = append(errs, checkList(ListAPT, spec.APT, checkAPTLine, aptKey)...)
	errs = append(errs, checkList(ListConda, spec.Conda, checkCondaLine, condaKey)...)
	errs = append(errs, checkList(ListPip, spec.Pip, checkPipLine, pipKey)...)
	if len(errs) == 0 {
		return nil
	}
	return errs
}

var nameComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|-+)[a-z0-9]+)*$`)

// CheckName returns why name is not an acceptable spec name, or a zero
// Message.
// Seed rule: lowercase letters, numbers, '-' and '.' only; it must also be a
// valid image repository name.
func CheckName(name string) message.Message {
	if p := NameProblems(name); len(p) > 0 {
		return p[0]
	}
	return message.Message{}
}

// NameProblems lists every reason name is not an acceptable spec name:
// an uppercase letter, each other character that is not allowed (each
// once), then the rules on its ends and separators.
func NameProblems(name string) []message.Message {
	switch {
	case name == "":
		return []message.Message{msgf("name is required")}
	case len(name) > MaxNameLength:
		return []message.Message{msgf("name is %d characters long; at most %d are allowed", len(name), MaxNameLength)}
	}
	var out []message.Message
	upper := false
	seen := map[rune]bool{}
	for _, r := range name {
		switch {
		case r >= 'A' && r <= 'Z':
			if !upper {
				out = append(out, msgf("%q has an uppercase letter; only lowercase letters, numbers, '-' and '.' are allowed", name))
				upper = true
			}
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '.':
		default:
			if !seen[r] {
				out = append(out, msgf("%q contains %q; only lowercase letters, numbers, '-' and '.' are allowed", name, r))
				seen[r] = true
			}
		}
	}
	first, last := name[0], name[len(name)-1]
	if first == '-' || first == '.' {
		out = append(out, msgf("name must start with a letter or a number"))
	}
	if last == '-' || last == '.' {
		out = append(out, msgf("name must end with a letter or a number"))
	}
	if strings.Contains(name, "..") {
		out = append(out, msgf("name must not contain '..'"))
	}
	if strings.Contains(name, ".-") || strings.Contains(name, "-.") {
		out = append(out, msgf("a '.' must not stand next to a '-'"))
	}
	if len(out) == 0 && !nameComponent.MatchString(name) {
		out = append(out, msgf("name is not a valid image repository name"))
	}
	return out
}

// CheckImageReference returns why ref is not a usable image reference, or a
// zero Message.
func CheckImageReference(ref string) message.Message {
	if strings.TrimSpace(ref) == "" {
		return msgf("base image is required")
	}
	if strings.ContainsAny(ref, " \t\r\n") {
		return msgf("an image reference must not contain spaces or line breaks")
	}
	if _, err := reference.ParseNormalizedNamed(ref); err != nil {
		return msgf("%q is not a valid image reference (%s); expected e.g. registry.example.com/team/image:tag", ref, err.Error())
	}
	return message.Message{}
}

// lineChecker validates one trimmed package line and returns what is wrong
// with it, or a zero Message.
type lineChecker func(text string) message.Message

// keyFunc gives the identity of a valid line for duplicate detection.
type keyFunc func(text string) string

func checkList(list string, lines []string, check lineChecker, key keyFunc) []FieldError {
	var errs []FieldError
	if len(lines) > MaxListLines {
		errs = append(errs, FieldError{Field: list,
			Message: msgf("the list has %d lines; at most %d are allowed", len(lines), MaxListLines)})
		lines = lines[:MaxListLines]
	}
	seen := map[string]int{}
	checked := lines
	for i, raw := range lines {
		if len(raw) > MaxLineLength {
			errs = append(errs, FieldError{Field: list, Line: i + 1,
				Message: msgf("the line is %d characters long; at most %d are allowed", len(raw), MaxLineLength)})
			if &checked[0] == &lines[0] {
				checked = append([]string(nil), lines...) // never change the caller's list
			}
			checked[i] = "" // reported; not checked again below
		}
	}
	for _, pl := range PackageLines(checked) {
		if msg := commonLineProblem(list, pl.Text); !msg.IsZero() {
			errs = append(errs, FieldError{Field: list, Line: pl.Line, Message: msg})
			continue
		}
		if msg := check(pl.Text); !msg.IsZero() {
			errs = append(errs, FieldError{Field: list, Line: pl.Line, Message: msg})
			continue
		}
		k := key(pl.Text)
		if first, dup := seen[k]; dup {
			errs = append(errs, FieldError{Field: list, Line: pl.Line,
				Message: msgf("%q is listed twice (first on line %d)", pl.Text, first)})
			continue
		}
		seen[k] = pl.Line
	}
	return errs
}

// commonLineProblem catches what no package manager line may hold, with
// messages that explain the rule rather than the grammar.
func commonLineProblem(list, text string) message.Message {
	for _, r := range text {
		if r < 0x20 || r == 0x7f {
			return msgf("control character %q is not allowed", r)
		}
		if r > 0x7e {
			return msgf("character %q is not allowed in a package line", r)
		}
	}
	if strings.HasPrefix(text, "-") {
		word := strings.Fields(text)[0]
		if list == ListConda && (word == "-c" || word == "--channel") {
			return msgf("options such as %q are not allowed; write the channel in the package itself, e.g. conda-forge::numpy==1.17*", word)
		}
		return msgf("options such as %q are not allowed; list one package per line instead", word)
	}
	return message.Message{}
}

// --- APT -------------------------------------------------------------------

var (
	debName    = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	debArch    = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	debVersion = regexp.MustCompile(`^(?:[0-9]+:)?[0-9A-Za-z][0-9A-Za-z.+~-]*(?:-[0-9A-Za-z.+~]+)?$`)
	debRelease = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.+_-]*$`)
)

func checkAPTLine(text string) message.Message {
	if strings.ContainsAny(text, " \t") {
		return msgf("%q holds more than one word; put one package on each line", text)
	}
	name, suffix := text, ""
	if i := strings.IndexAny(text, "=/"); i >= 0 {
		name, suffix = text[:i], text[i:]
	}
	arch := ""
	if i := strings.Index(name, ":"); i >= 0 {
		name, arch = name[:i], name[i+1:]
		if !debArch.MatchString(arch) {
			return msgf("%q is not a valid architecture after ':' (e.g. amd64, arm64, i386)", arch)
		}
	}
	if msg := checkDebName(name); !msg.IsZero() {
		return msg
	}
	switch {
	case suffix == "":
	case suffix[0] == '=':
		v := suffix[1:]
		if v == "" {
			return msgf("a version must follow '=' (e.g. curl=7.88.1-10+deb12u5)")
		}
		if !debVersion.MatchString(v) {
			return msgf("%q is not a valid Debian version", v)
		}
	case suffix[0] == '/':
		r := suffix[1:]
		if r == "" {
			return msgf("a release must follow '/' (e.g. curl/bookworm-backports)")
		}
		if !debRelease.MatchString(r) {
			return msgf("%q is not a valid release name", r)
		}
	}
	return message.Message{}
}

func checkDebName(name string) message.Message {
	switch {
	case name == "":
		return msgf("a package name is required")
	case strings.ToLower(name) != name:
		return msgf("%q has uppercase letters; Debian package names are lowercase", name)
	case len(name) < 2:
		return msgf("%q is too short; Debian package names have at least two characters", name)
	case !debName.MatchString(name):
		return msgf("%q is not a valid Debian package name (lowercase letters, digits, '+', '-' and '.', starting with a letter or digit)", name)
	}
	return message.Message{}
}

func aptKey(text string) string {
	name := text
	if i := strings.IndexAny(text, "=/"); i >= 0 {
		name = text[:i]
	}
	return name
}
