package e2e

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"imagebuilder/db"
)

// scrape reads the metrics listener once.
func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	must(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	must(t, err)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	return string(body)
}

// sample is the value of the line that starts with name{labels} (or name).
func sample(t *testing.T, text, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no %s in the metrics:\n%s", series, text)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	must(t, err)
	return v
}

func TestPrometheusMetricsOnTheirOwnListener(t *testing.T) {
	in := newInstance(t)
	busybox := in.importBase(baseTar(t, "busybox.tar"), "library/busybox:latest", "BusyBox")
	metricsAddr := freeAddr(t)
	srv := in.serve("--metrics-addr", metricsAddr)
	store := in.store()
	// The portal's own listener does not serve them.
	if resp, err := http.Get(srv.url("/metrics")); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), "imagebuilder_builds_running") {
			t.Error("the portal's listener serves the metrics")
		}
	}
	before := scrape(t, metricsAddr)
	if sample(t, before, "imagebuilder_builds_running") != 0 || sample(t, before, "imagebuilder_queue_depth") != 0 {
		t.Fatalf("an idle server:\n%s", before)
	}
	for name, form := range map[string]url.Values{
		"m-ok":  {"baseImage": {busybox}},
		"m-bad": {"baseImage": {busybox}, "apt": {"jq"}}, // busybox has no apt-get
	} {
		form.Set("name", name)
		if resp := srv.postForm("/specs", form); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("create %s: %s", name, resp.Status)
		}
	}
	var ok db.Job
	for _, name := range []string{"m-ok", "m-bad"} {
		jobs, err := store.ListJobs(t.Context(), name)
		must(t, err)
		j := waitJob(t, store, jobs[0].ID, 2*time.Minute, db.StatusSucceeded, db.StatusFailed)
		if name == "m-ok" {
			ok = j
		}
	}
	after := scrape(t, metricsAddr)
	if v := sample(t, after, `imagebuilder_builds_total{outcome="succeeded",reason=""}`); v != 1 {
		t.Errorf("succeeded builds: %v", v)
	}
	if v := sample(t, after, `imagebuilder_builds_total{outcome="failed",reason="apt-missing"}`); v != 1 {
		t.Errorf("failed builds for apt-missing: %v", v)
	}
	if v := sample(t, after, `imagebuilder_build_duration_seconds_count{outcome="succeeded"}`); v != 1 {
		t.Errorf("duration observations: %v", v)
	}
	if v := sample(t, after, "imagebuilder_queue_wait_seconds_count"); v != 2 {
		t.Errorf("queue waits: %v", v)
	}
	if v := sample(t, after, "imagebuilder_pushed_bytes_total"); v != float64(ok.Size) || v == 0 {
		t.Errorf("pushed bytes %v, the job pushed %d", v, ok.Size)
	}
	if !strings.Contains(after, "go_goroutines") || !strings.Contains(after, "process_resident_memory_bytes") {
		t.Error("no runtime or process metrics")
	}
}
