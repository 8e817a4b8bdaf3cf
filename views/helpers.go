package views

import (
	"encoding/json"
	"strings"
	"time"
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
