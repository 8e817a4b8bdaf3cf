package views

import (
	"time"
)

// The account page's model.

// SessionRow is one of the administrator's sessions; Handle names it
// without revealing its ID.
type SessionRow struct {
	Handle    string
	Current   bool
	CreatedAt time.Time
	LastSeen  time.Time
	Address   string
	UserAgent string
}

// AccountPage is the signed-in administrator's sessions and password form.
type AccountPage struct {
	Layout
	Sessions []SessionRow
	Errors   map[string][]string
	Notice   string
	// Tokens are every API token; TokenName and TokenDays the create
	// form's input, NewToken the token just created (shown this once).
	Tokens          []TokenRow
	TokenName       string
	TokenDays       string
	TokenDayChoices []string
	NewToken        string
}

// TokenRow is one API token (never its secret).
type TokenRow struct {
	ID                             int64
	Name, Hint, CreatedBy          string
	CreatedAt, ExpiresAt, LastUsed time.Time
	// State is active, expired or revoked.
	State string
}

func boolAttr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
