// Package logstest lets tests wait for log text the moment it is written:
// the writer wakes the waiter, nothing polls. Production code must not
// import it.
package logstest

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"imagebuilder/builder/logs"
)

// Buffer is a build log in memory, safe for concurrent writers, that
// wakes whoever waits for text in it.
type Buffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // closed and replaced on every write
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.b.Write(p)
	if b.changed != nil {
		close(b.changed)
		b.changed = nil
	}
	return n, err
}

// String is everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// next returns the text so far and a channel closed by the next write.
func (b *Buffer) next() (string, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.changed == nil {
		b.changed = make(chan struct{})
	}
	return b.b.String(), b.changed
}

// WaitFor waits until any of bufs holds text, and fails the test with
// what they hold when timeout passes first.
func WaitFor(t testing.TB, text string, timeout time.Duration, bufs ...*Buffer) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		var all strings.Builder
		wake := make([]<-chan struct{}, len(bufs))
		for i, b := range bufs {
			s, ch := b.next()
			if strings.Contains(s, text) {
				return
			}
			all.WriteString(s)
			wake[i] = ch
		}
		if !waitAny(wake, deadline.C) {
			t.Fatalf("the log never said %q in %s:\n%s", text, timeout, all.String())
		}
	}
}

// waitAny waits for one of chans, or returns false at deadline.
func waitAny(chans []<-chan struct{}, deadline <-chan time.Time) bool {
	woke := make(chan struct{}, 1)
	stop := make(chan struct{})
	defer close(stop)
	for _, ch := range chans {
		go func() {
			select {
			case <-ch:
				select {
				case woke <- struct{}{}:
				default:
				}
			case <-stop:
			}
		}()
	}
	select {
	case <-woke:
		return true
	case <-deadline:
		return false
	}
}

var errFound = errors.New("found")

// WaitLine waits until job id's log in store has a line holding text,
// following the log as it is written (logs.Store.Follow; a job not started
// yet is waited for). finished says whether the job is over. It fails the
// test when the log ends without the text, or at timeout, with the log so
// far.
func WaitLine(t testing.TB, store *logs.Store, id int64, text string, timeout time.Duration, finished func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var seen strings.Builder
	err := store.Follow(ctx, id, 0, finished, func(line []byte, _ int64) error {
		seen.Write(line)
		seen.WriteByte('\n')
		if bytes.Contains(line, []byte(text)) {
			return errFound
		}
		return nil
	})
	switch {
	case errors.Is(err, errFound):
	case err == nil:
		t.Fatalf("job %d's log ended without %q:\n%s", id, text, seen.String())
	default:
		t.Fatalf("job %d's log never said %q (%v):\n%s", id, text, err, seen.String())
	}
}
