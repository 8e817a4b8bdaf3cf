package builder

import (
	"errors"
	"fmt"
)

// Message is a text meant for people: an English format and its arguments.
// A user interface can translate Format (it is the message's identity) and
// keep Args, so this package stays free of presentation while every one of
// its messages can be shown in the user's language. Every Format is written
// as a literal in a msgf call, so tools can list them all.
type Message struct {
	Format string
	Args   []any
}

func msgf(format string, args ...any) Message { return Message{Format: format, Args: args} }

// IsZero reports whether m holds no message (the value meaning "no problem").
func (m Message) IsZero() bool { return m.Format == "" }

// String is the message in English.
func (m Message) String() string {
	if len(m.Args) == 0 {
		return m.Format
	}
	return fmt.Sprintf(m.Format, m.Args...)
}

// Error lets a Message travel as an error; errors.As recovers it.
func (m Message) Error() string { return m.String() }

// asMessage returns the Message err carries, or err's own text (which a
// user interface cannot translate).
func asMessage(err error) Message {
	var m Message
	if errors.As(err, &m) {
		return m
	}
	return Message{Format: err.Error()}
}
