package logs

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var stampRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z `)

func TestJobLogTimestampsLinesAndJoinsPartialWrites(t *testing.T) {
	s, err := NewStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.Open(1)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(l, "STEP 1/2: FROM ")
	fmt.Fprint(l, "busybox\n(Reading database ... 5%\r(Reading database ... 100%\rSTEP 2/2\r\nno newline at the end")
	l.Printf("Image Builder: done")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(s.Path(1))
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	want := []string{"STEP 1/2: FROM busybox", "STEP 2/2", "no newline at the endImage Builder: done"}
	if len(lines) != len(want) {
		t.Fatalf("lines %q", lines)
	}
	for i, l := range lines {
		if !stampRE.MatchString(l) || stampRE.ReplaceAllString(l, "") != want[i] {
			t.Errorf("line %d = %q, want stamp + %q", i, l, want[i])
		}
	}
}

func TestTailReturnsLastLinesAndCursor(t *testing.T) {
	s, _ := NewStore(t.TempDir())
	l, _ := s.Open(7)
	for i := 1; i <= 5000; i++ {
		fmt.Fprintf(l, "line %d\n", i)
	}
	l.Close()
	lines, start, end, err := s.Tail(7, 2000)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 2000 || !strings.HasSuffix(lines[0], " line 3001") || !strings.HasSuffix(lines[1999], " line 5000") {
		t.Fatalf("got %d lines, first %q last %q", len(lines), lines[0], lines[len(lines)-1])
	}
	raw, _ := os.ReadFile(s.Path(7))
	if end != int64(len(raw)) || !strings.HasPrefix(string(raw[start:]), lines[0]+"\n") {
		t.Fatalf("start %d end %d do not frame the tail", start, end)
	}
	short, _, _, _ := s.Tail(7, 10000)
	if len(short) != 5000 {
		t.Fatalf("tail of a short log: %d lines", len(short))
	}
	none, _, _, err := s.Tail(99, 2000)
	if err != nil || none != nil {
		t.Fatalf("missing log: %v %v", none, err)
	}
}

// A follower that starts mid-way, reconnects from its cursor, and sees the
// end: no gaps, no duplicates.
func TestFollowResumesFromCursorWithoutGapsOrDuplicates(t *testing.T) {
	s, _ := NewStore(t.TempDir())
	l, _ := s.Open(3)
	const total = 3000
	var wg sync.WaitGroup
	var over atomic.Bool // the job's recorded status, as the portal sees it
	finished := over.Load
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < total; i++ {
			fmt.Fprintf(l, "line %d\n", i)
			if i%500 == 0 {
				time.Sleep(5 * time.Millisecond)
			}
		}
		l.Close()
		over.Store(true)
	}()
	var got []string
	var cursor int64
	// First connection drops after 1000 lines.
	ctx, cancel := context.WithCancel(context.Background())
	err := s.Follow(ctx, 3, 0, finished, func(line []byte, next int64) error {
		got = append(got, stampRE.ReplaceAllString(string(line), ""))
		cursor = next
		if len(got) == 1000 {
			cancel()
			return context.Canceled
		}
		return nil
	})
	if err != context.Canceled {
		t.Fatalf("first follow: %v", err)
	}
	// Reconnect with the last cursor (SSE Last-Event-ID).
	err = s.Follow(context.Background(), 3, cursor, finished, func(line []byte, next int64) error {
		got = append(got, stampRE.ReplaceAllString(string(line), ""))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if len(got) != total {
		t.Fatalf("got %d lines", len(got))
	}
	for i, g := range got {
		if g != fmt.Sprintf("line %d", i) {
			t.Fatalf("line %d = %q", i, g)
		}
	}
}

func TestFollowWaitsForAPendingJobAndSlowFollowersNeverBlockTheWriter(t *testing.T) {
	s, _ := NewStore(t.TempDir())
	writerDone := make(chan struct{})
	var over atomic.Bool
	var polls atomic.Int32 // how often the follower asked whether the job is over
	finished := func() bool { polls.Add(1); return over.Load() }
	var lines []string
	done := make(chan error, 1)
	go func() {
		done <- s.Follow(context.Background(), 5, 0, finished, func(line []byte, _ int64) error {
			if len(lines) == 0 {
				<-writerDone // a follower stuck until the writer is done
			}
			lines = append(lines, string(line))
			return nil
		})
	}()
	// The job is still pending, no log yet: wait until the follower has
	// looked twice, so it is waiting rather than not started.
	for polls.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	l, _ := s.Open(5)
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(l, "line %d\n", i)
	}
	l.Close() // had the writer waited for the follower, it would never get here
	over.Store(true)
	close(writerDone)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(lines) != 2000 {
		t.Fatalf("follower got %d lines", len(lines))
	}
}
