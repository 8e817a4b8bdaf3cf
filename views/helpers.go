package views

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/a-h/templ"

	"imagebuilder/db/failure"
)

// TimeValue wraps a time for LocalTime.
type TimeValue struct{ time.Time }

// At wraps t.
func At(t time.Time) TimeValue { return TimeValue{t} }

func csrfHeaders(token string) string {
	b, _ := json.Marshal(map[string]string{"X-Csrf-Token": token}) // a map of strings always marshals
	return string(b)
}

func navClass(active bool) string {
	if active {
		return "nav-link active"
	}
	return "nav-link"
}

func badgeClass(status string) string {
	if status == "" {
		return "none"
	}
	return status
}

func joinLines(l []string) string { return strings.Join(l, "\n") }

func fieldClass(errs []string) string {
	if len(errs) > 0 {
		return "field has-error"
	}
	return "field"
}

func tabClass(active bool) string {
	if active {
		return "tab active"
	}
	return "tab"
}

// questionBefore and questionAfter are the delete question's text around
// the spec name, so the name can be filled in (and set in bold) apart.
func questionBefore(loc Loc) string {
	before, _, _ := strings.Cut(loc.T("delete.question", "\x00"), "\x00")
	return before
}

func questionAfter(loc Loc) string {
	_, after, _ := strings.Cut(loc.T("delete.question", "\x00"), "\x00")
	return after
}

// invalid is the aria-invalid value of a field with these errors.
func invalid(errs []string) string {
	if len(errs) > 0 {
		return "true"
	}
	return "false"
}

// statusFilterKey is the label of a value of the list's status filter.
func statusFilterKey(s string) string {
	switch s {
	case "":
		return "list.status.all"
	case "none":
		return "status.none"
	}
	return "status." + s
}

// reasonText is why a job failed or was cancelled, in the reader's
// language: from its reason code and arguments, or its English message
// when it has no code (older jobs, failures nothing named) or the
// arguments do not fit. A quoted tool line follows a failed step.
func reasonText(loc Loc, f *failure.Failure) string {
	if f == nil {
		return ""
	}
	code, args := string(f.Reason), f.Args
	key := "reason." + code
	if code == "" || !Has(LangEN, key) {
		return f.Message
	}
	if f.Reason == failure.StepFailed && len(args) == 2 {
		step := "step." + args[0]
		if args[0] == "" || !Has(LangEN, step) {
			step = "step.other"
		}
		text := loc.T(key, loc.T(step), args[1])
		if q := f.Quoted(); q != "" {
			return text + loc.T("reason.quote") + q
		}
		return text + loc.T("reason.step-failed.nolog")
	}
	if f.Reason == failure.OutOfMemory && len(args) == 1 {
		if args[0] == "" {
			return loc.T(key, "")
		}
		return loc.T(key, loc.T("reason.out-of-memory.limit", args[0]))
	}
	if len(verbsIn(loc.T(key))) != len(args) {
		return f.Message
	}
	vals := make([]any, len(args))
	for i, a := range args {
		vals[i] = a
	}
	return loc.T(key, vals...)
}

// reasonHint is what to do about a failure, or "".
func reasonHint(loc Loc, f *failure.Failure) string {
	code := string(f.Code())
	if code == "" || !Has(LangEN, "hint."+code) {
		return ""
	}
	return loc.T("hint." + code)
}

var fmtVerbs = regexp.MustCompile(`%(?:\[\d+\])?[-+# 0]*\d*(?:\.\d+)?[a-zA-Z]`)

func verbsIn(format string) []string { return fmtVerbs.FindAllString(format, -1) }

// linesBefore and linesAfter are the log text around line i, with the
// newlines that join them to it.
func linesBefore(lines []string, i int) string {
	if i == 0 {
		return ""
	}
	return joinLines(lines[:i]) + "\n"
}

func linesAfter(lines []string, i int) string {
	if i == len(lines)-1 {
		return ""
	}
	return "\n" + joinLines(lines[i+1:])
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// Diagnosis is a failed or cancelled job's reason in loc's language and
// its hint ("" when there is none), as the job page says them; the API
// and the command line print the same.
func Diagnosis(loc Loc, f *failure.Failure) (text, hint string) {
	return reasonText(loc, f), reasonHint(loc, f)
}

// deliveryBadge is the badge class of a webhook delivery's state.
func deliveryBadge(state string) string {
	switch state {
	case "delivered":
		return "badge-succeeded"
	case "failed":
		return "badge-failed"
	}
	return "badge-pending"
}

// longPart is the length past which a part of an image reference may
// break anywhere: it would not fit a phone's line (a digest's hex).
const longPart = 36

// ImageRef shows an image reference that breaks only after "/", ":" and
// "@" (a <wbr> there, no space, each part unbreakable, even at its
// hyphens), so a narrow column never splits a name mid-word; only a part
// too long for a line breaks inside.
func ImageRef(ref, testid string) templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		var b strings.Builder
		b.WriteString(`<code class="ref" data-testid="` + html.EscapeString(testid) + `">`)
		for i, part := range refParts(ref) {
			if i > 0 {
				b.WriteString("<wbr>")
			}
			class := "part"
			if len([]rune(part)) > longPart {
				class = "part long"
			}
			b.WriteString(`<span class="` + class + `">` + html.EscapeString(part) + `</span>`)
		}
		b.WriteString("</code>")
		_, err := io.WriteString(w, b.String())
		return err
	})
}

// refParts cuts an image reference after each "/", ":" and "@", the
// places a line may break.
func refParts(ref string) []string {
	var parts []string
	start := 0
	for i, r := range ref {
		if r == '/' || r == ':' || r == '@' {
			parts = append(parts, ref[start:i+1])
			start = i + 1
		}
	}
	if start < len(ref) {
		parts = append(parts, ref[start:])
	}
	return parts
}

// baseInfoText says in one sentence what a base image is and which
// package tools it holds.
func baseInfoText(loc Loc, b BaseInfo) string {
	what := loc.T("check.base.arch", b.Arch)
	if b.OS != "" {
		what = loc.T("check.base.os", b.OS, b.Arch)
	}
	if tools := b.ToolList(); tools != "" {
		return what + " " + loc.T("check.base.tools", tools)
	}
	return what + " " + loc.T("check.base.notools")
}
