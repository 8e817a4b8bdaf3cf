// Package message is the text Image Builder writes for people: an English
// format and its arguments. A user interface translates the format (it is
// the message's identity) and keeps the arguments, so the packages that
// write messages stay free of presentation while every message can be
// shown in the reader's language. It imports nothing of the project.
package message

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Message is a text meant for people. Every Format is written as a
// literal in a msgf call of the package that writes it, so tools can list
// them all (see handlers' translation test).
type Message struct {
	Format string
	Args   []any
}

// New is the message format with args.
func New(format string, args ...any) Message { return Message{Format: format, Args: args} }

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

// Of returns the Message err carries, or err's own text (which a user
// interface cannot translate).
func Of(err error) Message {
	var m Message
	if errors.As(err, &m) {
		return m
	}
	return Message{Format: err.Error()}
}

var (
	verbs    = regexp.MustCompile(`%(?:\[\d+\])?[-+# 0]*\d*(?:\.\d+)?[a-zA-Z]`)
	nonWords = regexp.MustCompile(`[^a-z0-9]+`)
)

// Code is the message's identity for programs, frozen in codes: first
// derived from its English wording without the values, in lower case
// joined by dashes and cut at 64 characters ("%q is not a valid Debian
// package name" gave "is-not-a-valid-debian-package-name"), and kept when
// the wording changes. A format not in codes (the message of an error
// from elsewhere) gets its derived code.
func (m Message) Code() string {
	if code, ok := codes[m.Format]; ok {
		return code
	}
	return DerivedCode(m.Format)
}

// HasFrozenCode reports whether format's code is frozen in codes.
func HasFrozenCode(format string) bool {
	_, ok := codes[format]
	return ok
}

// DerivedCode is the code format's wording gives.
func DerivedCode(format string) string {
	code := verbs.ReplaceAllString(format, " ")
	code = strings.Trim(nonWords.ReplaceAllString(strings.ToLower(code), "-"), "-")
	if len(code) > 64 {
		code = strings.TrimRight(code[:64], "-")
	}
	return code
}
