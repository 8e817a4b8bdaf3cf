package handlers

import (
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"imagebuilder/db/dbtest"
)

// The list filters by name as typed and by status, pages through the
// matches, and renders one delete dialog for the page.
func TestListFiltersAndPages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "imagebuilder.db")
	if err := dbtest.SeedList(path, 120, 3); err != nil {
		t.Fatal(err)
	}
	app, _ := newTestAppAt(t, path, true)
	cl := signedIn(t, app)
	_, doc := cl.get("/specs")
	if n := doc.Find(`[data-testid="spec-row"]`).Length(); n != specsPerPage {
		t.Fatalf("first page: %d rows", n)
	}
	if n := doc.Find("dialog").Length(); n != 1 {
		t.Fatalf("%d dialogs on the page", n)
	}
	if got := doc.Find(`[data-testid="list-count"]`).Text(); got != "Page 1 of 3 · specs: 120" {
		t.Fatalf("count %q", got)
	}
	next, _ := doc.Find(`[data-testid="page-next"]`).Attr("href")
	_, doc = cl.get(next)
	if first, _ := doc.Find(`[data-testid="spec-row"]`).First().Attr("data-name"); first != "spec-0051" {
		t.Fatalf("page 2 starts at %q", first)
	}
	// As typed (htmx): only the list part comes back, filtered.
	req := httptest.NewRequest("GET", "/specs?q=spec-011&status=", nil)
	req.Header.Set("HX-Request", "true")
	_, doc = cl.do(req)
	var names []string
	doc.Find(`[data-testid="spec-row"]`).Each(func(_ int, s *goquery.Selection) { n, _ := s.Attr("data-name"); names = append(names, n) })
	if !slices.Equal(names, []string{"spec-0110", "spec-0111", "spec-0112", "spec-0113", "spec-0114", "spec-0115", "spec-0116", "spec-0117", "spec-0118", "spec-0119"}) {
		t.Fatalf("q=spec-011: %v", names)
	}
	if doc.Find(`[data-testid="list-pager"]`).Length() != 0 {
		t.Fatal("one page of matches has a pager")
	}
	_, doc = cl.get("/specs?status=failed")
	doc.Find(`[data-testid="spec-row"] [data-testid="status"]`).Each(func(_ int, s *goquery.Selection) {
		if st, _ := s.Attr("data-status"); st != "failed" {
			t.Fatalf("status filter shows %s", st)
		}
	})
	_, doc = cl.get("/specs?q=nothing-like-this")
	if doc.Find(`[data-testid="no-match"]`).Length() != 1 || doc.Find(`[data-testid="empty-state"]`).Length() != 0 {
		t.Fatal("no match is not said as such")
	}
	if resp, _ := cl.get("/specs?status=%3Cscript%3E&page=-4"); resp.StatusCode != http.StatusOK {
		t.Fatalf("bad filter values: %d", resp.StatusCode)
	}
}

// BenchmarkSpecListPage1000Specs50000Jobs is the whole Image Builder list
// page over HTTP (session check, query, render), as a browser gets it.
// Target: p99 under 20 ms.
func BenchmarkSpecListPage1000Specs50000Jobs(b *testing.B) {
	path := filepath.Join(b.TempDir(), "imagebuilder.db")
	if err := dbtest.SeedList(path, 1000, 50); err != nil {
		b.Fatal(err)
	}
	app, _ := newTestAppAt(b, path, true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go app.Listener(ln)
	defer app.Shutdown()
	base := "http://" + ln.Addr().String()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(base + "/login")
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(string(body))
	if m == nil {
		b.Fatal("no CSRF token on the sign-in page")
	}
	token := m[1]
	resp, err = client.PostForm(base+"/login", url.Values{"csrf": {token}, "username": {"admin"}, "password": {testPassword}})
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		b.Fatalf("sign in: %v %v", resp, err)
	}
	resp.Body.Close()
	for _, page := range []string{"/specs", "/specs?q=spec-05&status=succeeded"} {
		name := "all"
		if strings.Contains(page, "?") {
			name = "filtered"
		}
		b.Run(name, func(b *testing.B) {
			p99, size := measureGets(b, func() (*http.Response, error) { return client.Get(base + page) })
			b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(size)/1024, "KiB/page")
		})
	}
}

// measureGets makes b.N requests with get and returns their p99 latency
// and the last answer's size; a status other than 200 fails b, and a p99
// over the 20 ms target is logged.
func measureGets(b *testing.B, get func() (*http.Response, error)) (time.Duration, int) {
	lat := make([]time.Duration, 0, b.N)
	size := 0
	for i := 0; i < b.N; i++ {
		start := time.Now()
		resp, err := get()
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		lat = append(lat, time.Since(start))
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("%s: %d", resp.Request.URL, resp.StatusCode)
		}
		size = int(n)
	}
	slices.Sort(lat)
	p99 := lat[min(len(lat)-1, len(lat)*99/100)]
	if p99 > 20*time.Millisecond {
		b.Logf("p99 %s is over the 20 ms target", p99)
	}
	return p99, size
}
