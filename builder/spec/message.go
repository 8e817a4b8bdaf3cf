package spec

import "imagebuilder/builder/message"

// msgf writes a message for people; see package message.
func msgf(format string, args ...any) message.Message { return message.New(format, args...) }
