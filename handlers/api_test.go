package handlers

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"imagebuilder/db/dbtest"
	"imagebuilder/db/failure"
	"imagebuilder/handlers/apiv1"
)

// apiRoutes lists the API's routes as "METHOD /path/:param".
func apiRoutes(app *fiber.App) []string {
	var out []string
	for _, r := range app.GetRoutes(true) {
		if !strings.HasPrefix(r.Path, "/api/v1/") || r.Method == fiber.MethodHead || strings.Contains(r.Path, "*") {
			continue
		}
		out = append(out, r.Method+" "+r.Path)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// apiCall sends a JSON request with token (none when "") and decodes the
// JSON answer into out when it is not nil.
func apiCall(t *testing.T, app *fiber.App, token, method, path string, body any, out any, headers ...string) *http.Response {
	t.Helper()
	var r io.Reader
	if body != nil {
		raw, ok := body.(string)
		if !ok {
			b, err := json.Marshal(body)
			if err != nil {
				t.Fatal(err)
			}
			raw = string(b)
		}
		r = strings.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, r)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp
}

// newToken creates an API token on the Account page, as an administrator
// does, and returns it.
func newToken(t *testing.T, cl *client, name string) string {
	t.Helper()
	resp, _ := cl.post("/account/tokens", url.Values{"tokenName": {name}, "tokenDays": {"30"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account#tokens" {
		t.Fatalf("create token: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// The token is on the page the post redirects to, this once.
	resp, doc := cl.get("/account")
	token := strings.TrimSpace(doc.Find(`[data-testid="new-token"]`).Text())
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(token, APITokenPrefix) || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("create token: %d %q", resp.StatusCode, token)
	}
	if _, again := cl.get("/account"); again.Find(`[data-testid="new-token"]`).Length() != 0 {
		t.Fatal("the new token is shown twice")
	}
	return token
}

func TestEveryAPIRouteRequiresAValidTokenAndNoCookie(t *testing.T) {
	app, store := testApp(t)
	cl := signedIn(t, app)
	revoked := newToken(t, cl, "revoked")
	tokens, _ := store.ListAPITokens(context.Background())
	if err := store.RevokeAPIToken(context.Background(), tokens[0].ID); err != nil {
		t.Fatal(err)
	}
	expired := APITokenPrefix + "expired-token-secret"
	if _, err := store.CreateAPIToken(context.Background(), "old", "ibt_ex", "admin", tokenHash(expired), time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	routes := apiRoutes(app)
	if len(routes) < 20 {
		t.Fatalf("only %d API routes: %v", len(routes), routes)
	}
	for _, r := range routes {
		method, path, _ := strings.Cut(r, " ")
		if path == "/api/v1/openapi.json" {
			continue
		}
		path = param.ReplaceAllString(path, "1")
		for _, tok := range []string{"", "not-a-token", APITokenPrefix + "unknown", revoked, expired} {
			var body apiError
			resp := apiCall(t, app, tok, method, path, nil, &body)
			if resp.StatusCode != http.StatusUnauthorized || body.Code != "unauthorized" || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s with token %q: %d %+v", r, tok, resp.StatusCode, body)
			}
		}
		// A signed-in browser's cookies (and CSRF token) do not count.
		req := httptest.NewRequest(method, path, nil)
		req.Header.Set("X-Csrf-Token", cl.csrf)
		if resp, _ := cl.do(req); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s with a session cookie: %d", r, resp.StatusCode)
		}
	}
	// An unknown API path is a JSON 404 once signed in, never the portal.
	good := newToken(t, cl, "good")
	var body apiError
	if resp := apiCall(t, app, good, "GET", "/api/v1/nothing-here", nil, &body); resp.StatusCode != 404 || body.Code != "not-found" {
		t.Fatalf("unknown route: %d %+v", resp.StatusCode, body)
	}
	if resp := apiCall(t, app, "", "GET", "/api/v2/specs", nil, &body); resp.StatusCode != 404 {
		t.Fatalf("unknown version: %d %+v", resp.StatusCode, body)
	}
}

// The OpenAPI document and the routes agree both ways.
func TestOpenAPIDocumentsEveryRouteAndNothingElse(t *testing.T) {
	app, _ := testApp(t)
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if resp := apiCall(t, app, "", "GET", "/api/v1/openapi.json", nil, &doc); resp.StatusCode != 200 || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi.json: %d %q", resp.StatusCode, doc.OpenAPI)
	}
	braces := regexp.MustCompile(`\{([A-Za-z]+)\}`)
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" /api/v1"+braces.ReplaceAllString(path, ":$1"))
		}
	}
	slices.Sort(documented)
	if routes := apiRoutes(app); !slices.Equal(routes, documented) {
		for _, r := range routes {
			if !slices.Contains(documented, r) {
				t.Errorf("route %s is not documented", r)
			}
		}
		for _, d := range documented {
			if !slices.Contains(routes, d) {
				t.Errorf("documented %s is no route", d)
			}
		}
	}
}

func TestAPISpecsJobsAndSettings(t *testing.T) {
	app, store := newTestApp(t, true, func(d *Deps) { d.APIRate = 1000 })
	cl := signedIn(t, app)
	tok := newToken(t, cl, "ci-pipeline")
	ctx := context.Background()

	// Every problem, by list and line, with a code, in the asked language.
	var bad apiError
	resp := apiCall(t, app, tok, "POST", "/api/v1/specs", map[string]any{"name": "tools", "baseImage": "busybox", "apt": []string{"jq", "bad;name"}, "pip": []string{"requests==="}}, &bad, "Accept-Language", "zh-TW")
	if resp.StatusCode != 422 || bad.Code != "invalid" || len(bad.Errors) != 2 {
		t.Fatalf("invalid spec: %d %+v", resp.StatusCode, bad)
	}
	if e := bad.Errors[0]; e.List != "apt" || e.Line != 2 || e.Code == "" || !regexp.MustCompile(`\p{Han}`).MatchString(e.Message) {
		t.Fatalf("the APT error %+v is not by line, coded and in Chinese", e)
	}
	if e := bad.Errors[1]; e.List != "pip" || e.Line != 1 {
		t.Fatalf("the Pip error %+v", e)
	}
	if resp := apiCall(t, app, tok, "POST", "/api/v1/specs", `{"name":"tools","baseImage":"busybox","apts":["jq"]}`, &bad); resp.StatusCode != 400 || !strings.Contains(bad.Message, "apts") {
		t.Fatalf("a misspelt field: %d %+v", resp.StatusCode, bad)
	}
	if jobs, _ := store.ListJobs(ctx, "tools"); len(jobs) != 0 {
		t.Fatal("an invalid spec was saved")
	}

	// Create, then PUT the same spec: no new revision; PUT a change: one.
	var created apiv1.SpecResult
	in := map[string]any{"name": "tools", "baseImage": "busybox", "apt": []string{"jq"}}
	if resp := apiCall(t, app, tok, "POST", "/api/v1/specs", in, &created); resp.StatusCode != 201 || created.Job == nil || created.Job.Revision != 1 || created.Spec.Status != "pending" {
		t.Fatalf("create: %d %+v", resp.StatusCode, created)
	}
	var put apiv1.SpecResult
	if resp := apiCall(t, app, tok, "PUT", "/api/v1/specs/tools", map[string]any{"baseImage": "busybox", "apt": []string{"jq"}}, &put); resp.StatusCode != 200 || put.Changed || put.Job != nil {
		t.Fatalf("unchanged PUT: %d %+v", resp.StatusCode, put)
	}
	if resp := apiCall(t, app, tok, "PUT", "/api/v1/specs/tools", map[string]any{"baseImage": "busybox", "apt": []string{"jq", "curl"}}, &put); resp.StatusCode != 200 || !put.Changed || put.Job.Revision != 2 {
		t.Fatalf("changed PUT: %d %+v", resp.StatusCode, put)
	}
	// A line cannot smuggle a second line (or a Containerfile instruction).
	if resp := apiCall(t, app, tok, "PUT", "/api/v1/specs/tools", map[string]any{"baseImage": "busybox", "apt": []string{"jq\nRUN rm -rf /"}}, &bad); resp.StatusCode != 422 || bad.Errors[0].List != "apt" {
		t.Fatalf("a line with a newline: %d %+v", resp.StatusCode, bad)
	}
	if resp := apiCall(t, app, tok, "PUT", "/api/v1/specs/other", map[string]any{"name": "tools", "baseImage": "busybox"}, &bad); resp.StatusCode != 422 || bad.Errors[0].List != "name" {
		t.Fatalf("a PUT renaming: %d %+v", resp.StatusCode, bad)
	}
	if resp := apiCall(t, app, tok, "PUT", "/api/v1/specs/fresh", map[string]any{"baseImage": "busybox"}, &put); resp.StatusCode != 201 || put.Job.Revision != 1 {
		t.Fatalf("PUT of a new spec: %d %+v", resp.StatusCode, put)
	}
	var got apiv1.Spec
	if resp := apiCall(t, app, tok, "GET", "/api/v1/specs/tools", nil, &got); resp.StatusCode != 200 || strings.Join(got.APT, ",") != "jq,curl" || got.LatestRevision != 2 {
		t.Fatalf("get: %d %+v", resp.StatusCode, got)
	}
	var list struct {
		Total int          `json:"total"`
		Specs []apiv1.Spec `json:"specs"`
	}
	if resp := apiCall(t, app, tok, "GET", "/api/v1/specs?q=too", nil, &list); resp.StatusCode != 200 || list.Total != 1 || list.Specs[0].Name != "tools" {
		t.Fatalf("list: %d %+v", resp.StatusCode, list)
	}

	// Jobs: revision 1 was superseded (cancelled) by revision 2.
	var jobs struct {
		Jobs []apiv1.Job `json:"jobs"`
		Next int64       `json:"next"`
	}
	if resp := apiCall(t, app, tok, "GET", "/api/v1/specs/tools/jobs", nil, &jobs); resp.StatusCode != 200 || len(jobs.Jobs) != 2 || jobs.Jobs[0].Revision != 2 {
		t.Fatalf("spec jobs: %d %+v", resp.StatusCode, jobs)
	}
	if first := jobs.Jobs[1]; first.Status != "cancelled" || first.Diagnosis == "" {
		t.Fatalf("the superseded job %+v has no diagnosis", first)
	}
	if resp := apiCall(t, app, tok, "GET", "/api/v1/jobs?status=pending&limit=1", nil, &jobs); resp.StatusCode != 200 || len(jobs.Jobs) != 1 || jobs.Next == 0 {
		t.Fatalf("pending jobs, first page: %d %+v", resp.StatusCode, jobs)
	}
	next := jobs.Next
	if resp := apiCall(t, app, tok, "GET", "/api/v1/jobs?status=pending&limit=1&before="+jsonNumber(next), nil, &jobs); resp.StatusCode != 200 || len(jobs.Jobs) != 1 || jobs.Jobs[0].ID >= next {
		t.Fatalf("pending jobs, second page: %d %+v", resp.StatusCode, jobs)
	}
	if resp := apiCall(t, app, tok, "GET", "/api/v1/jobs?status=done", nil, &bad); resp.StatusCode != 400 {
		t.Fatalf("a bad status: %d", resp.StatusCode)
	}
	id := jsonNumber(put.Job.ID)
	var job apiv1.Job
	if resp := apiCall(t, app, tok, "POST", "/api/v1/jobs/"+id+"/cancel", nil, &job); resp.StatusCode != 200 || job.Status != "cancelled" || job.CancelledBy != "admin (API token ci-pipeline)" {
		t.Fatalf("cancel: %d %+v", resp.StatusCode, job)
	}
	if resp := apiCall(t, app, tok, "POST", "/api/v1/jobs/"+id+"/retry", nil, &job); resp.StatusCode != 201 || job.Status != "pending" || job.RetryOf != put.Job.ID {
		t.Fatalf("retry: %d %+v", resp.StatusCode, job)
	}
	if resp := apiCall(t, app, tok, "POST", "/api/v1/jobs/"+id+"/retry", nil, &bad); resp.StatusCode != 409 || bad.Code != "conflict" {
		t.Fatalf("retrying a job that is not the latest: %d %+v", resp.StatusCode, bad)
	}
	var tail struct {
		Lines  []string `json:"lines"`
		Cursor int64    `json:"cursor"`
	}
	if resp := apiCall(t, app, tok, "GET", "/api/v1/jobs/"+id+"/log/tail?lines=5", nil, &tail); resp.StatusCode != 200 || tail.Lines == nil {
		t.Fatalf("tail: %d %+v", resp.StatusCode, tail)
	}
	if resp := apiCall(t, app, tok, "GET", "/api/v1/jobs/999999", nil, &bad); resp.StatusCode != 404 || bad.Code != "not-found" {
		t.Fatalf("a missing job: %d %+v", resp.StatusCode, bad)
	}

	// Settings: base images, write-only pull secrets, the registry.
	var img APIBaseImage
	if resp := apiCall(t, app, tok, "POST", "/api/v1/base-images", map[string]any{"name": "", "reference": "not a ref"}, &bad); resp.StatusCode != 422 || len(bad.Errors) != 2 {
		t.Fatalf("a bad base image: %d %+v", resp.StatusCode, bad)
	}
	if resp := apiCall(t, app, tok, "POST", "/api/v1/base-images", map[string]any{"name": "Debian", "reference": "registry.example.com/debian:12"}, &img); resp.StatusCode != 201 || img.ID == 0 {
		t.Fatalf("base image: %d %+v", resp.StatusCode, img)
	}
	secret := `{"auths":{"registry.example.com":{"auth":"` + "dXNlcjpzM2NyZXQ=" + `"}}}`
	if resp := apiCall(t, app, tok, "POST", "/api/v1/pull-secrets", map[string]any{"name": "corp", "content": secret}, nil); resp.StatusCode != 201 {
		t.Fatalf("pull secret: %d", resp.StatusCode)
	}
	resp = apiCall(t, app, tok, "GET", "/api/v1/pull-secrets", nil, nil)
	if raw, _ := io.ReadAll(resp.Body); !strings.Contains(string(raw), `"corp"`) || strings.Contains(string(raw), "dXNlcjpzM2NyZXQ") {
		t.Fatalf("pull secrets list: %s", raw)
	}
	var reg APIRegistry
	if resp := apiCall(t, app, tok, "GET", "/api/v1/registry", nil, &reg); resp.StatusCode != 200 || reg.External || reg.Host == "" {
		t.Fatalf("registry: %d %+v", resp.StatusCode, reg)
	}
	var test struct {
		OK bool `json:"ok"`
	}
	if resp := apiCall(t, app, tok, "POST", "/api/v1/registry/test", nil, &test); resp.StatusCode != 200 || !test.OK {
		t.Fatalf("registry test: %d %+v", resp.StatusCode, test)
	}
	if resp := apiCall(t, app, tok, "DELETE", "/api/v1/base-images/"+jsonNumber(img.ID), nil, nil); resp.StatusCode != 204 {
		t.Fatalf("delete base image: %d", resp.StatusCode)
	}
	if resp := apiCall(t, app, tok, "DELETE", "/api/v1/pull-secrets/corp", nil, nil); resp.StatusCode != 204 {
		t.Fatalf("delete pull secret: %d", resp.StatusCode)
	}

	// Delete; the audit log names the token.
	if resp := apiCall(t, app, tok, "DELETE", "/api/v1/specs/fresh", nil, nil); resp.StatusCode != 204 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if resp := apiCall(t, app, tok, "GET", "/api/v1/specs/fresh", nil, &bad); resp.StatusCode != 404 {
		t.Fatalf("deleted spec: %d", resp.StatusCode)
	}
	events, _ := store.ListAudit(ctx, "fresh", 10, 0)
	if len(events) == 0 || events[0].Actor != "admin (API token ci-pipeline)" {
		t.Fatalf("audit %+v", events)
	}

	// The Account page says the token was used, and revoking it stops it.
	_, doc := cl.get("/account")
	row := doc.Find(`[data-testid="token-row"][data-name="ci-pipeline"]`)
	if row.Length() != 1 || strings.Contains(row.Find(`[data-testid="token-used"]`).Text(), "never") {
		t.Fatalf("the token's row does not say it was used: %q", row.Text())
	}
	if strings.Contains(doc.Text(), tok) {
		t.Fatal("the Account page shows the token again")
	}
	tokens, _ := store.ListAPITokens(ctx)
	if resp, _ := cl.post("/account/tokens/"+jsonNumber(tokens[0].ID)+"/delete", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if resp := apiCall(t, app, tok, "GET", "/api/v1/specs", nil, &bad); resp.StatusCode != 401 {
		t.Fatalf("a revoked token: %d", resp.StatusCode)
	}
}

func TestAPIRateLimitPerToken(t *testing.T) {
	app, _ := newTestApp(t, true, func(d *Deps) { d.APIRate = 3 })
	cl := signedIn(t, app)
	a, b := newToken(t, cl, "a"), newToken(t, cl, "b")
	for i := range 3 {
		if resp := apiCall(t, app, a, "GET", "/api/v1/specs", nil, nil); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i+1, resp.StatusCode)
		}
	}
	var body apiError
	if resp := apiCall(t, app, a, "GET", "/api/v1/specs", nil, &body); resp.StatusCode != 429 || body.Code != "rate-limited" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("the fourth request: %d %+v %q", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	if resp := apiCall(t, app, b, "GET", "/api/v1/specs", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("another token was limited too: %d", resp.StatusCode)
	}
}

func TestTokenFormErrors(t *testing.T) {
	app, store := testApp(t)
	cl := signedIn(t, app)
	resp, doc := cl.post("/account/tokens", url.Values{"tokenName": {""}, "tokenDays": {"1000"}})
	if resp.StatusCode != 422 || doc.Find(`[data-testid="token-name-errors"]`).Length() != 1 || doc.Find(`[data-testid="token-days-errors"]`).Length() != 1 {
		t.Fatalf("bad token form: %d", resp.StatusCode)
	}
	if tokens, _ := store.ListAPITokens(context.Background()); len(tokens) != 0 {
		t.Fatal("a token was made from a bad form")
	}
}

func jsonNumber(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestMetricsTakeAToken(t *testing.T) {
	app, _ := newTestApp(t, true, func(d *Deps) {
		d.Metrics = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "imagebuilder_builds_running 0\n") })
	})
	cl := signedIn(t, app)
	if resp := apiCall(t, app, "", "GET", "/metrics", nil, nil); resp.StatusCode != 401 {
		t.Fatalf("metrics without a token: %d", resp.StatusCode)
	}
	if resp, _ := cl.get("/metrics"); resp.StatusCode != 401 {
		t.Fatalf("metrics with a session cookie: %d", resp.StatusCode)
	}
	resp := apiCall(t, app, newToken(t, cl, "prometheus"), "GET", "/metrics", nil, nil)
	if raw, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || !strings.Contains(string(raw), "imagebuilder_builds_running") {
		t.Fatalf("metrics with a token: %d %s", resp.StatusCode, raw)
	}
}

// BenchmarkAPISpecList1000Specs50000Jobs is GET /api/v1/specs over HTTP
// (token check, rate limit, query, JSON) on 1,000 specs with 50,000 jobs:
// the default page of 50 (as the list page), every spec at once, and a filtered list.
// Target: p99 under 20 ms, like the page.
func BenchmarkAPISpecList1000Specs50000Jobs(b *testing.B) {
	path := filepath.Join(b.TempDir(), "imagebuilder.db")
	if err := dbtest.SeedList(path, 1000, 50); err != nil {
		b.Fatal(err)
	}
	app, store := newTestAppAt(b, path, true, func(d *Deps) { d.APIRate = 1 << 30 })
	token := APITokenPrefix + "bench-token"
	if _, err := store.CreateAPIToken(context.Background(), "bench", "ibt_be", "admin", tokenHash(token), time.Now().Add(time.Hour)); err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go app.Listener(ln)
	defer app.Shutdown()
	base := "http://" + ln.Addr().String()
	client := &http.Client{}
	for name, query := range map[string]string{"page-of-50": "/api/v1/specs", "all-1000": "/api/v1/specs?limit=1000", "filtered": "/api/v1/specs?q=spec-05&status=succeeded"} {
		b.Run(name, func(b *testing.B) {
			p99, size := measureGets(b, func() (*http.Response, error) {
				req, _ := http.NewRequest("GET", base+query, nil)
				req.Header.Set("Authorization", "Bearer "+token)
				return client.Do(req)
			})
			b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(size)/1024, "KiB/answer")
		})
	}
}

func TestAPIBodyOverTheLimitIsAJSONError(t *testing.T) {
	app, store := testApp(t)
	token := APITokenPrefix + "big-body-token"
	if _, err := store.CreateAPIToken(context.Background(), "big", "ibt_bi", "admin", tokenHash(token), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go app.Listener(ln)
	defer app.Shutdown()
	// The server answers as soon as it reads the length, and may close
	// before a client has written the whole body (a Go client then sees
	// "connection reset"): send the head, then read the answer.
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/v1/specs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{\"name\":", token, 3<<20)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body apiError
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge || body.Code != "too-large" {
		t.Fatalf("a 3 MB body: %d %+v (%v)", resp.StatusCode, body, err)
	}
}

// Two scripts update the same spec from the same GET: the second, with
// the ETag it read (If-Match), is refused with 412 and nothing of the
// first is lost; with the new ETag it goes through. If-Match on a spec
// that does not exist and If-None-Match: * on one that does are 412 too.
func TestAPIPutWithIfMatchRefusesAStaleVersion(t *testing.T) {
	app, store := testApp(t)
	tok := newToken(t, signedIn(t, app), "two-scripts")
	var created apiv1.SpecResult
	if resp := apiCall(t, app, tok, "PUT", "/api/v1/specs/shared", map[string]any{"baseImage": "busybox", "pip": []string{"requests"}}, &created); resp.StatusCode != 201 {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	resp := apiCall(t, app, tok, "GET", "/api/v1/specs/shared", nil, nil)
	read := resp.Header.Get("ETag")
	if !strings.HasPrefix(read, `"`) || len(read) < 10 {
		t.Fatalf("ETag %q", read)
	}
	// The first script adds a pull secret... (a package here)
	var first apiv1.SpecResult
	if resp := apiCall(t, app, tok, "PUT", "/api/v1/specs/shared", map[string]any{"baseImage": "busybox", "pip": []string{"requests"}, "apt": []string{"jq"}}, &first, "If-Match", read); resp.StatusCode != 200 || !first.Changed {
		t.Fatalf("first: %d %+v", resp.StatusCode, first)
	}
	// ... the second, from the same read, would drop it.
	var stale apiError
	if resp := apiCall(t, app, tok, "PUT", "/api/v1/specs/shared", map[string]any{"baseImage": "busybox", "pip": []string{"requests", "numpy"}}, &stale, "If-Match", read); resp.StatusCode != http.StatusPreconditionFailed || stale.Code != "precondition-failed" || !strings.Contains(stale.Message, "revision 2") {
		t.Fatalf("stale: %d %+v", resp.StatusCode, stale)
	}
	if s, _ := store.GetSpec(context.Background(), "shared"); len(s.APT) != 1 || len(s.Pip) != 1 {
		t.Fatalf("the first change was lost: %+v", s)
	}
	// With the ETag of the first's answer it goes through.
	resp = apiCall(t, app, tok, "GET", "/api/v1/specs/shared", nil, nil)
	var second apiv1.SpecResult
	if resp := apiCall(t, app, tok, "PUT", "/api/v1/specs/shared", map[string]any{"baseImage": "busybox", "pip": []string{"requests", "numpy"}, "apt": []string{"jq"}}, &second, "If-Match", resp.Header.Get("ETag")); resp.StatusCode != 200 || !second.Changed || second.Job.Revision != 3 {
		t.Fatalf("second, fresh: %d %+v", resp.StatusCode, second)
	}
	for _, c := range []struct{ name, header, value string }{
		{"nowhere", "If-Match", read}, {"shared", "If-None-Match", "*"},
	} {
		if resp := apiCall(t, app, tok, "PUT", "/api/v1/specs/"+c.name, map[string]any{"baseImage": "busybox"}, nil, c.header, c.value); resp.StatusCode != http.StatusPreconditionFailed {
			t.Errorf("%s with %s %s: %d", c.name, c.header, c.value, resp.StatusCode)
		}
	}
	if resp := apiCall(t, app, tok, "PUT", "/api/v1/specs/shared", map[string]any{"baseImage": "busybox"}, nil, "If-Match", "not-an-etag"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a malformed If-Match: %d", resp.StatusCode)
	}
}

// The document's reason codes are the closed set a Failure carries, and a
// job's failure in the API has the document's fields.
func TestOpenAPIReasonCodesAreTheFailureReasons(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Enum []string `json:"enum"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	schema, ok := doc.Components.Schemas["Failure"]
	if !ok {
		t.Fatal("no Failure schema")
	}
	var want []string
	for _, r := range failure.Reasons {
		want = append(want, string(r))
	}
	want = append(want, string(failure.Other))
	got := slices.Clone(schema.Properties["reason"].Enum)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("documented reasons %v\nFailure reasons %v", got, want)
	}
	var fields []string
	for name := range schema.Properties {
		fields = append(fields, name)
	}
	slices.Sort(fields)
	raw, _ := json.Marshal(failure.Failure{Reason: failure.Timeout, Args: []string{"1s"}, Lines: []string{"x"}, Message: "m"})
	var encoded map[string]any
	_ = json.Unmarshal(raw, &encoded)
	var keys []string
	for k := range encoded {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(fields, keys) {
		t.Errorf("documented fields %v, encoded %v", fields, keys)
	}
}
