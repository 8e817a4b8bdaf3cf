package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Every route the real binary's OpenAPI document lists refuses a request
// without a token with a JSON 401, and answers one with a token, given
// placeholder parameters and an empty object as the body, with one of the
// statuses the document gives for it, as JSON where it says JSON.
func TestEveryDocumentedAPIRouteAnswersAsDocumented(t *testing.T) {
	in := newInstance(t)
	srv := in.serve()
	tok := srv.apiToken("conformance")
	resp, err := http.Get(srv.url("/api/v1/openapi.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Security  *[]any                    `json:"security"`
			Responses map[string]map[string]any `json:"responses"`
		} `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	param := regexp.MustCompile(`\{[a-zA-Z]+\}`)
	checked := 0
	for path, ops := range doc.Paths {
		for method, op := range ops {
			url := srv.url("/api/v1" + param.ReplaceAllString(path, "999"))
			method = strings.ToUpper(method)
			call := func(token string) (*http.Response, []byte) {
				var body io.Reader
				if method == http.MethodPost || method == http.MethodPut {
					body = strings.NewReader("{}")
				}
				req, _ := http.NewRequest(method, url, body)
				req.Header.Set("Content-Type", "application/json")
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				return resp, raw
			}
			if op.Security == nil || len(*op.Security) > 0 {
				resp, raw := call("")
				var e struct{ Code string }
				if resp.StatusCode != 401 || json.Unmarshal(raw, &e) != nil || e.Code != "unauthorized" {
					t.Errorf("%s %s without a token: %d %s", method, path, resp.StatusCode, raw)
				}
			}
			resp, raw := call(tok)
			var codes []string
			for code := range op.Responses {
				codes = append(codes, code)
			}
			if !slices.Contains(codes, strconv.Itoa(resp.StatusCode)) {
				t.Errorf("%s %s answered %d, documented %v: %s", method, path, resp.StatusCode, codes, raw)
				continue
			}
			if content, ok := op.Responses[strconv.Itoa(resp.StatusCode)]["content"].(map[string]any); ok {
				if _, isJSON := content["application/json"]; isJSON && !json.Valid(raw) {
					t.Errorf("%s %s: %d is documented as JSON: %s", method, path, resp.StatusCode, raw)
				}
			}
			checked++
		}
	}
	if checked < 20 {
		t.Fatalf("only %d operations checked", checked)
	}
}
