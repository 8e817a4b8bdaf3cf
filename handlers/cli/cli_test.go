package cli

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// apply --wait rides out a server that is away for a moment (a restart).
func TestWaitTriesAgainWhileTheServerIsAway(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there for now
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/jobs/5" || r.Header.Get("Authorization") != "Bearer ibt_test" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, `{"id":5,"spec":"tools","revision":1,"status":"succeeded","image":"r/tools:1","digest":"sha256:abc"}`)
	})}
	go func() {
		time.Sleep(3 * time.Second)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Error(err)
			return
		}
		_ = srv.Serve(ln)
	}()
	defer srv.Close()
	c := &client{server: "http://" + addr, token: "ibt_test", http: &http.Client{}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out strings.Builder
	if err := c.waitJob(ctx, 5, &out); err != nil {
		t.Fatalf("wait: %v", err)
	}
	if !strings.Contains(out.String(), "image r/tools:1@sha256:abc") {
		t.Fatalf("output %q", out.String())
	}
}
