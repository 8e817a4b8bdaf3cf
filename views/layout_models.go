package views

import (
	"fmt"
	"time"
)

// The layout's model, and the helpers every page's model uses.

// Layout is what every full page needs.
type Layout struct {
	Loc   Loc
	Title string
	// Active is the navigation entry to highlight: "builder" or "images".
	Active string
	// Path is the current URL, for the language switch to come back to.
	Path string
	// CSRF is the token htmx and forms send back.
	CSRF string
	// RegistryMissing shows the seed's "image registry not found" warning.
	RegistryMissing bool
	// RegistryHost is where builds push, for the footer.
	RegistryHost string
	// User is the signed-in administrator ("" on the sign-in pages).
	User string
	// Flash is what the previous request (a form post) has to say.
	Flash Flash
	// NewToken is an API token just created, shown once.
	NewToken string
}

// Flash is a message left by a form post for the page it redirects to.
type Flash struct {
	Kind string // "ok" or "notice"
	Text string
}

// settingsPages are the Active values of the pages under Settings in the
// navigation.
var settingsPages = map[string]bool{"secrets": true, "registry": true, "builds": true, "webhooks": true, "storage": true, "audit": true}

// InSettings reports whether the page is one of the Settings menu's.
func (l Layout) InSettings() bool { return settingsPages[l.Active] }

// ErrorPage is shown for a missing record or a failure.
type ErrorPage struct {
	Layout
	Message string
}

// duration is how long a build took, e.g. "1m 05s"; "" when it has not
// both started and finished.
func duration(start, end time.Time) string {
	if start.IsZero() || end.IsZero() || end.Before(start) {
		return ""
	}
	d := end.Sub(start).Round(time.Second)
	if d < time.Minute {
		return fmt.Sprintf("%ds", int(d.Seconds()))
	}
	if d < time.Hour {
		return fmt.Sprintf("%dm %02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
}

func statusKey(s string) string {
	if s == "" {
		return "status.none"
	}
	return "status." + s
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func iso(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f\u00a0GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f\u00a0MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f\u00a0KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d\u00a0B", n)
}
