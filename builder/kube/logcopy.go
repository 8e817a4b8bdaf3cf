package kube

// Copying a build pod's log into the job's log, exactly once across restarts.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// logCopier copies a pod's log (with the kubelet's timestamps) into a job's
// log, skipping what an earlier process already copied.
type logCopier struct {
	k     *Executor
	jobID int64
	log   io.Writer
	since time.Time // lines stamped at or before this are already copied
	// key opens the worker's sealed result line (nil when re-attached),
	// whose body goes to results (buffered) instead of the job's log.
	key     []byte
	results chan []byte
	mu      sync.Mutex
	mark    *os.File // holds since, rewritten in place after every line
}

func (c *logCopier) markPath() string {
	if c.k.cfg.StateDir == "" {
		return ""
	}
	return filepath.Join(c.k.cfg.StateDir, strconv.FormatInt(c.jobID, 10)+".log-mark")
}

func (c *logCopier) loadMark() time.Time {
	p := c.markPath()
	if p == "" {
		return time.Time{}
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return time.Time{}
	}
	t, _ := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b)))
	return t
}

// saveMark records that the line stamped t is in the job's log, after it
// was written there: a process killed in between copies that one line
// again after a restart, never loses it. One small write in place per line.
func (c *logCopier) saveMark(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mark == nil {
		p := c.markPath()
		if p == "" {
			return
		}
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return
		}
		c.mark = f
	}
	// Fixed width, so a shorter stamp never leaves the end of a longer one.
	_, _ = c.mark.WriteAt([]byte(fmt.Sprintf("%-40s", t.Format(time.RFC3339Nano))), 0)
}

func (c *logCopier) clearMark() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mark != nil {
		c.mark.Close()
		c.mark = nil
	}
	if p := c.markPath(); p != "" {
		_ = os.Remove(p)
	}
}

// copy follows the pod's log until the container ends, reconnecting when
// the stream breaks while the pod still runs.
func (c *logCopier) copy(ctx context.Context, pod string) {
	pods := c.k.client.CoreV1().Pods(c.k.cfg.Namespace)
	for attempt := 0; ctx.Err() == nil; attempt++ {
		opts := &corev1.PodLogOptions{Container: container, Follow: true, Timestamps: true}
		if !c.since.IsZero() {
			t := metav1.NewTime(c.since)
			opts.SinceTime = &t
		}
		rc, err := pods.GetLogs(pod, opts).Stream(ctx)
		if err == nil {
			c.lines(rc)
			rc.Close()
		}
		p, perr := pods.Get(ctx, pod, metav1.GetOptions{})
		if perr != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed || attempt > 100 {
			if perr == nil && err == nil {
				return
			}
			if err != nil && ctx.Err() == nil {
				fmt.Fprintf(c.log, "Image Builder: the pod's log could not be read: %v\n", err)
			}
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (c *logCopier) lines(r io.Reader) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			stamp, text, _ := strings.Cut(line, " ")
			t, perr := time.Parse(time.RFC3339Nano, stamp)
			switch {
			case perr != nil:
				_, _ = io.WriteString(c.log, line)
			case !t.After(c.since):
				// copied before a restart
			default:
				text = c.result(text)
				if text != "" && !strings.HasSuffix(text, "\n") {
					text += "\n"
				}
				_, _ = io.WriteString(c.log, text)
				c.since = t
				c.saveMark(t)
			}
		}
		if err != nil {
			return
		}
	}
}

// result takes the worker's sealed result line out of text, handing its
// body to c.results, and returns what is left for the job's log. A line
// in the result line's shape that this copier cannot open is a step's
// output and stays, unless the copier has no key (a re-attached build),
// where it is dropped: the termination message gives that build's result.
func (c *logCopier) result(text string) string {
	if at, body, ok := openResult(c.key, text); ok {
		select {
		case c.results <- body:
		default: // a second one: the first is the result
		}
		return text[:at]
	}
	if at, _, _, ok := parseResultLine(text); ok && len(c.key) == 0 {
		return text[:at]
	}
	return text
}
