package engine

import (
	"bytes"
	"io"
	"sync"
)

// redactor passes a build's output on line by line with every secret
// replaced by "****". A package manager may print an index URL it was
// given, credentials and all; such a line never reaches the log as it was.
// Output is held back only until its line ends (or Flush).
type redactor struct {
	mu      sync.Mutex
	w       io.Writer
	secrets [][]byte
	pending []byte
}

func newRedactor(w io.Writer, secrets []string) *redactor {
	r := &redactor{w: w}
	for _, s := range secrets {
		if s != "" {
			r.secrets = append(r.secrets, []byte(s))
		}
	}
	return r
}

var mask = []byte("****")

func (r *redactor) Write(p []byte) (int, error) {
	if len(r.secrets) == 0 {
		return r.w.Write(p)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending = append(r.pending, p...)
	if i := bytes.LastIndexByte(r.pending, '\n'); i >= 0 {
		if err := r.emit(r.pending[:i+1]); err != nil {
			return 0, err
		}
		r.pending = append(r.pending[:0], r.pending[i+1:]...)
	}
	if len(r.pending) > 64<<10 { // a line without end: pass it on anyway
		if err := r.emit(r.pending); err != nil {
			return 0, err
		}
		r.pending = r.pending[:0]
	}
	return len(p), nil
}

func (r *redactor) emit(b []byte) error {
	for _, s := range r.secrets {
		b = bytes.ReplaceAll(b, s, mask)
	}
	_, err := r.w.Write(b)
	return err
}

// Flush writes what is held of an unfinished last line.
func (r *redactor) Flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.pending) == 0 {
		return nil
	}
	err := r.emit(r.pending)
	r.pending = r.pending[:0]
	return err
}
