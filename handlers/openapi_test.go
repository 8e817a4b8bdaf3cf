package handlers

import (
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"imagebuilder/db"
	"imagebuilder/db/dbtest"
	"imagebuilder/db/failure"
)

// Real answers of the API, successes and errors, validate against the
// OpenAPI document's schemas: the document is the contract clients
// generate code from, so a field the handlers add, drop or retype fails
// here.
func TestAPIAnswersMatchTheOpenAPIDocument(t *testing.T) {
	ctx := context.Background()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openAPIDocument)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(ctx); err != nil {
		t.Fatalf("the document is not valid OpenAPI: %v", err)
	}
	// Held strictly here: an answer's field the document does not name
	// fails, as a field it names with the wrong type does.
	no := false
	for _, s := range doc.Components.Schemas {
		if s.Value != nil && s.Value.Type.Is(openapi3.TypeObject) && len(s.Value.Properties) > 0 {
			s.Value.AdditionalProperties = openapi3.AdditionalProperties{Has: &no}
		}
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	app, store := testApp(t)
	cl := signedIn(t, app)
	token := newToken(t, cl, "contract")
	failed := dbtest.EndedJob(t, store, "broken", db.JobOutcome{Status: db.StatusFailed,
		Failure: &failure.Failure{Reason: failure.APTNotFound, Args: []string{"nosuch"}, Lines: []string{"E: Unable to locate package nosuch"}, Message: "the APT step failed"}})
	ok := dbtest.EndedJob(t, store, "fine", db.JobOutcome{Status: db.StatusSucceeded, Image: "registry.example.com/fine:1",
		Digest: "sha256:" + strings.Repeat("a", 64), Size: 1234})
	for _, c := range []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/api/v1/specs", "", 200},
		{"GET", "/api/v1/specs/broken", "", 200},
		{"GET", "/api/v1/specs/broken/jobs", "", 200},
		{"GET", "/api/v1/jobs", "", 200},
		{"GET", "/api/v1/jobs/" + jsonNumber(failed.ID), "", 200},
		{"GET", "/api/v1/jobs/" + jsonNumber(ok.ID), "", 200},
		{"GET", "/api/v1/specs/nope", "", 404},
		{"POST", "/api/v1/specs", `{"name": "Bad_Name", "baseImage": "busybox", "apt": ["jq jq"]}`, 422},
		{"POST", "/api/v1/specs", `{"name": "made", "baseImage": "busybox", "apt": ["jq"]}`, 201},
		{"POST", "/api/v1/jobs/" + jsonNumber(ok.ID) + "/cancel", "", 200}, // a finished job stays as it is
		{"POST", "/api/v1/jobs/" + jsonNumber(ok.ID) + "/retry", "", 409},
		{"GET", "/api/v1/base-images", "", 200},
		{"GET", "/api/v1/pull-secrets", "", 200},
		{"GET", "/api/v1/registry", "", 200},
		{"GET", "/api/v1/webhooks", "", 200},
		{"GET", "/api/v1/webhook-deliveries", "", 200},
	} {
		var body io.Reader
		if c.body != "" {
			body = strings.NewReader(c.body)
		}
		req := httptest.NewRequest(c.method, "http://portal.example.com"+c.path, body)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: %d, want %d: %s", c.method, c.path, resp.StatusCode, c.status, raw)
			continue
		}
		route, params, err := router.FindRoute(req)
		if err != nil {
			t.Errorf("%s %s: not in the document: %v", c.method, c.path, err)
			continue
		}
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
			Body: io.NopCloser(bytes.NewReader(raw)), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
		if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
			t.Errorf("%s %s (%d) does not match the document: %v\n%s", c.method, c.path, resp.StatusCode, err, raw)
		}
	}
}
