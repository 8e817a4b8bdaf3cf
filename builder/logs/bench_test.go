package logs

import (
	"bytes"
	"context"
	"os"
	"sync"
	"testing"
	"time"
)

// BenchmarkTail2000Of1GiB reads the last 2000 lines of a 1 GiB log.
func BenchmarkTail2000Of1GiB(b *testing.B) {
	s, _ := NewStore(b.TempDir())
	f, err := os.Create(s.Path(1))
	if err != nil {
		b.Fatal(err)
	}
	line := []byte("2026-11-23T09:00:00.000Z Unpacking libjq1:amd64 (1.6-2.1+deb12u3) over (1.6-2.1) ... some more build output\n")
	block := bytes.Repeat(line, (1<<20)/len(line))
	for written := 0; written < 1<<30; written += len(block) {
		if _, err := f.Write(block); err != nil {
			b.Fatal(err)
		}
	}
	f.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		lines, _, _, err := s.Tail(1, 2000)
		if err != nil || len(lines) != 2000 {
			b.Fatal(len(lines), err)
		}
	}
}

// BenchmarkLiveFeed50kLinesTo10Followers writes 50,000 lines while ten
// followers read them live; it reports the delivered lines per second per
// follower (all ten get every line).
func BenchmarkLiveFeed50kLinesTo10Followers(b *testing.B) {
	const lines, followers = 50_000, 10
	line := []byte("Setting up libonig5:amd64 (6.9.8-1) ... a typical line of build output\n")
	for i := 0; i < b.N; i++ {
		s, _ := NewStore(b.TempDir())
		l, _ := s.Open(1)
		var wg sync.WaitGroup
		counts := make([]int, followers)
		done := make(chan struct{})
		finished := func() bool {
			select {
			case <-done:
				return true
			default:
				return false
			}
		}
		for f := 0; f < followers; f++ {
			wg.Add(1)
			go func(f int) {
				defer wg.Done()
				_ = s.Follow(context.Background(), 1, 0, finished, func([]byte, int64) error {
					counts[f]++
					return nil
				})
			}(f)
		}
		start := time.Now()
		for n := 0; n < lines; n++ {
			l.Write(line)
		}
		l.Close()
		close(done)
		wg.Wait()
		elapsed := time.Since(start)
		for f, c := range counts {
			if c != lines {
				b.Fatalf("follower %d got %d lines", f, c)
			}
		}
		b.ReportMetric(float64(lines)/elapsed.Seconds(), "lines/s/follower")
	}
}
