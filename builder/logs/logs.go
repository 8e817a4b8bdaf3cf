// Package logs owns the build job logs: one append-only file per job,
// every line with a UTC timestamp, read backwards for the page's tail and
// followed by byte offset for the live feed. It knows nothing of builds,
// HTTP or the database.
package logs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Store keeps one append-only log file per build job. Every line starts
// with a UTC timestamp. Readers address the file by byte offset, which is
// also the cursor of the live feed.
type Store struct {
	dir string

	mu   sync.Mutex
	live map[int64]*liveLog
}

// liveLog is the shared state of a log being written in this process.
type liveLog struct {
	mu     sync.Mutex
	size   int64 // bytes of complete lines in the file
	closed bool
	subs   map[chan struct{}]struct{}
}

// notify wakes every subscriber without ever blocking the writer.
func (l *liveLog) notify() {
	for ch := range l.subs {
		select {
		case ch <- struct{}{}:
		default: // already has a pending wake-up
		}
	}
}

// NewStore uses dir for the log files.
func NewStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &Store{dir: dir, live: map[int64]*liveLog{}}, nil
}

// Path is the file of a job's log.
func (s *Store) Path(jobID int64) string {
	return filepath.Join(s.dir, strconv.FormatInt(jobID, 10)+".log")
}

// Remove deletes a job's log file.
func (s *Store) Remove(jobID int64) error {
	err := os.Remove(s.Path(jobID))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// JobLog writes one job's log. Write splits its input into lines and
// prefixes each with a timestamp; a partial line waits for its end (or for
// Close). It is safe for concurrent use.
type JobLog struct {
	f    *os.File
	live *liveLog
	s    *Store
	id   int64
	now  func() time.Time

	mu        sync.Mutex
	partial   []byte
	err       error
	onError   func(error)
	lastWrite atomic.Int64 // unix nanoseconds of the last Write
	recent    [16]string   // the last lines written, without timestamps
	nrecent   int
}

// LastLines returns up to the last 16 lines written, oldest first.
func (l *JobLog) LastLines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := min(l.nrecent, len(l.recent))
	out := make([]string, 0, n)
	for i := l.nrecent - n; i < l.nrecent; i++ {
		out = append(out, l.recent[i%len(l.recent)])
	}
	return out
}

func (l *JobLog) remember(line []byte) {
	l.recent[l.nrecent%len(l.recent)] = string(bytes.TrimRight(line, "\r\n"))
	l.nrecent++
}

// maxLine is where an unterminated line is cut and written anyway.
const maxLine = 64 << 10

// Open opens (appending to) a job's log for writing and makes it live:
// followers wait for more until Close.
func (s *Store) Open(jobID int64) (*JobLog, error) {
	f, err := os.OpenFile(s.Path(jobID), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	live := &liveLog{size: st.Size(), subs: map[chan struct{}]struct{}{}}
	s.mu.Lock()
	s.live[jobID] = live
	s.mu.Unlock()
	l := &JobLog{f: f, live: live, s: s, id: jobID, now: time.Now}
	l.lastWrite.Store(time.Now().UnixNano())
	return l, nil
}

// Append adds lines to a log that is not being written, e.g. a note after a
// restart.
func (s *Store) Append(jobID int64, format string, args ...any) error {
	l, err := s.Open(jobID)
	if err != nil {
		return err
	}
	l.Printf(format, args...)
	return l.Close()
}

func (l *JobLog) stamp() []byte {
	return l.now().UTC().AppendFormat(nil, "2006-01-02T15:04:05.000Z ")
}

// OnError sets what happens when the log cannot be written (a full disk):
// f is called once, with the error, which names the file.
func (l *JobLog) OnError(f func(error)) {
	l.mu.Lock()
	l.onError = f
	l.mu.Unlock()
}

// Idle is how long ago the log was last written to (since it was opened,
// when never).
func (l *JobLog) Idle() time.Duration {
	return time.Since(time.Unix(0, l.lastWrite.Load()))
}

// Err is why the log could not be written, or nil.
func (l *JobLog) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Write implements io.Writer. Output the file cannot take (a full disk) is
// dropped without an error, so a build does not die of a broken pipe; the
// owner learns of it through OnError and Err. Later lines are tried again:
// once space is freed, the log's last line can still say what happened.
func (l *JobLog) Write(p []byte) (int, error) {
	l.lastWrite.Store(time.Now().UnixNano())
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []byte
	rest := p
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			l.partial = append(l.partial, rest...)
			if len(l.partial) >= maxLine {
				out = append(append(append(out, l.stamp()...), l.partial...), '\n')
				l.partial = l.partial[:0]
			}
			break
		}
		out = append(out, l.stamp()...)
		lineStart := len(out)
		out = append(out, l.partial...)
		out = append(out, rest[:i]...)
		out = append(out[:lineStart], lastCarriageSegment(out[lineStart:])...)
		out = append(out, '\n')
		l.remember(out[lineStart:])
		l.partial = l.partial[:0]
		rest = rest[i+1:]
	}
	if len(out) > 0 {
		_ = l.flush(out)
	}
	return len(p), nil
}

func (l *JobLog) flush(out []byte) error {
	if n, err := l.f.Write(out); err != nil {
		// Keep the file made of whole lines: cut what part was written.
		if n > 0 {
			_ = l.f.Truncate(l.sizeLocked())
		}
		if l.err == nil {
			l.err = err // an *os.PathError: it names the file
			if l.onError != nil {
				l.onError(err)
			}
		}
		return err
	}
	l.live.mu.Lock()
	l.live.size += int64(len(out))
	l.live.notify()
	l.live.mu.Unlock()
	return nil
}

// sizeLocked is the size of the log's whole lines.
func (l *JobLog) sizeLocked() int64 {
	l.live.mu.Lock()
	defer l.live.mu.Unlock()
	return l.live.size
}

// lastCarriageSegment keeps what a terminal would show of a line that
// progress output rewrote with carriage returns.
func lastCarriageSegment(line []byte) []byte {
	line = bytes.TrimRight(line, "\r")
	if i := bytes.LastIndexByte(line, '\r'); i >= 0 {
		return line[i+1:]
	}
	return line
}

// Printf writes one engine message as its own line.
func (l *JobLog) Printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if len(msg) == 0 || msg[len(msg)-1] != '\n' {
		msg += "\n"
	}
	_, _ = l.Write([]byte(msg))
}

// Close writes any partial line, syncs the file and ends the live feed.
func (l *JobLog) Close() error {
	l.mu.Lock()
	var err error
	if len(l.partial) > 0 {
		err = l.flush(append(append(l.stamp(), l.partial...), '\n'))
		l.partial = nil
	}
	err = errors.Join(err, l.f.Sync(), l.f.Close())
	l.mu.Unlock()

	l.live.mu.Lock()
	l.live.closed = true
	l.live.notify()
	l.live.mu.Unlock()
	l.s.mu.Lock()
	if l.s.live[l.id] == l.live {
		delete(l.s.live, l.id)
	}
	l.s.mu.Unlock()
	return err
}

// Tail returns the last n lines of a job's log (without their newlines),
// reading backwards from the end so its cost does not grow with the file.
// start is the offset of the first returned line and end the offset just
// after the last one: the cursor to follow from.
func (s *Store) Tail(jobID int64, n int) (lines []string, start, end int64, err error) {
	f, err := os.Open(s.Path(jobID))
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, 0, nil
	}
	if err != nil {
		return nil, 0, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, 0, 0, err
	}
	end = st.Size()
	if live := s.liveLog(jobID); live != nil {
		live.mu.Lock()
		end = min(end, live.size)
		live.mu.Unlock()
	}
	const block = 64 << 10
	var buf []byte // the tail of the file read so far, file[pos:end]
	pos := end
	for pos > 0 && bytes.Count(buf, []byte{'\n'}) <= n {
		step := int64(block)
		if pos < step {
			step = pos
		}
		pos -= step
		chunk := make([]byte, step, int64(len(buf))+step)
		if _, err := f.ReadAt(chunk, pos); err != nil && err != io.EOF {
			return nil, 0, 0, err
		}
		buf = append(chunk, buf...)
	}
	// Drop the trailing newline, then keep the last n lines.
	body := bytes.TrimSuffix(buf, []byte{'\n'})
	start = pos
	if len(body) == 0 {
		return nil, end, end, nil
	}
	parts := bytes.Split(body, []byte{'\n'})
	if len(parts) > n {
		drop := parts[:len(parts)-n]
		for _, p := range drop {
			start += int64(len(p)) + 1
		}
		parts = parts[len(parts)-n:]
	}
	lines = make([]string, len(parts))
	for i, p := range parts {
		lines[i] = string(p)
	}
	return lines, start, end, nil
}

func (s *Store) liveLog(jobID int64) *liveLog {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live[jobID]
}

// Follow calls emit for every complete line of a job's log from offset
// from on, with the offset just after that line, as lines are written. While
// no writer has the log open, finished says whether the job is over (nil
// means it is); Follow waits for a pending job's log to start. It returns
// nil once the job is over and every line was emitted, or ctx's error. A
// slow emit only delays this follower: the writer never waits for it.
func (s *Store) Follow(ctx context.Context, jobID int64, from int64, finished func() bool, emit func(line []byte, next int64) error) error {
	var live *liveLog
	wake := make(chan struct{}, 1)
	defer func() {
		if live != nil {
			live.mu.Lock()
			delete(live.subs, wake)
			live.mu.Unlock()
		}
	}()
	var f *os.File
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	buf := make([]byte, 256<<10)
	offset := from
	poll := time.NewTimer(0)
	defer poll.Stop()
	for {
		if live == nil {
			if live = s.liveLog(jobID); live != nil {
				live.mu.Lock()
				live.subs[wake] = struct{}{}
				live.mu.Unlock()
			}
		}
		// How far may we read, and will more come?
		var limit int64
		var closed bool
		if live != nil {
			live.mu.Lock()
			limit, closed = live.size, live.closed
			live.mu.Unlock()
		} else {
			closed = finished == nil || finished()
			if st, err := os.Stat(s.Path(jobID)); err == nil {
				limit = st.Size()
			}
		}
		if offset < limit && f == nil {
			var err error
			if f, err = os.Open(s.Path(jobID)); err != nil {
				return err
			}
		}
		for offset < limit {
			want := min(int64(len(buf)), limit-offset)
			n, err := f.ReadAt(buf[:want], offset)
			if err != nil && err != io.EOF {
				return err
			}
			chunk := buf[:n]
			last := bytes.LastIndexByte(chunk, '\n')
			if last < 0 {
				if int64(n) == want && want == int64(len(buf)) {
					last = n - 1 // a line longer than the buffer: emit it cut
				} else {
					break // only a partial line so far
				}
			}
			for _, line := range bytes.SplitAfter(chunk[:last+1], []byte{'\n'}) {
				if len(line) == 0 {
					continue
				}
				offset += int64(len(line))
				if err := emit(bytes.TrimSuffix(line, []byte{'\n'}), offset); err != nil {
					return err
				}
			}
		}
		if closed && offset >= limit {
			return nil
		}
		if live != nil && !closed {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-wake:
			}
			continue
		}
		// Not live yet (pending job) or just closed with a partial line.
		poll.Reset(200 * time.Millisecond)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-poll.C:
		}
		if closed && live != nil {
			return nil
		}
	}
}
