package handlers

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"imagebuilder/builder/settings"
	"imagebuilder/builder/webhooks"
	"imagebuilder/db"
	"imagebuilder/db/dbtest"
	"imagebuilder/db/failure"
	"imagebuilder/handlers/apiv1"
)

func TestWebhooksPageAddsAndRedelivers(t *testing.T) {
	var hooks *webhooks.Dispatcher
	app, store := newTestApp(t, true, withWebhooks(t, &hooks))
	cl := signedIn(t, app)
	resp, doc := cl.post("/settings/webhooks", url.Values{"url": {"ftp://x"}, "secret": {"short-secret-value"}})
	if resp.StatusCode != 422 || doc.Find(`[data-testid="webhook-url-errors"]`).Length() != 1 || doc.Find(`[data-testid="webhook-events-errors"]`).Length() != 1 {
		t.Fatalf("bad endpoint: %d", resp.StatusCode)
	}
	if v, _ := doc.Find(`[data-testid="webhook-secret"]`).Attr("value"); v != "" {
		t.Fatal("the secret was sent back")
	}
	secret := "a-receiver-secret-1234"
	resp, _ = cl.post("/settings/webhooks", url.Values{"url": {"https://chat.example.com/hooks"}, "secret": {secret}, "events": {db.EventJobFailed, db.EventJobSucceeded}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add: %d", resp.StatusCode)
	}
	hooks.JobFinished(dbtest.EndedJob(t, store, "tools", db.JobOutcome{Status: db.StatusFailed, Failure: failure.New(failure.Other, "failed")}))
	_, doc = cl.get("/settings/webhooks")
	if doc.Find(`[data-testid="webhook-row"]`).Length() != 1 || doc.Find(`[data-testid="delivery-row"][data-state="pending"]`).Length() != 1 {
		t.Fatal("the page does not list the endpoint and its pending delivery")
	}
	if strings.Contains(doc.Text(), secret) {
		t.Fatal("the page shows the secret")
	}
	deliveries, _ := store.RecentDeliveries(context.Background(), 10)
	if resp, _ := cl.post("/settings/webhooks/deliveries/"+jsonNumber(deliveries[0].ID)+"/redeliver", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("redeliver: %d", resp.StatusCode)
	}
	if deliveries, _ = store.RecentDeliveries(context.Background(), 10); len(deliveries) != 2 {
		t.Fatalf("redelivery made %d deliveries", len(deliveries))
	}
	// Why an attempt failed is said in the page's language.
	if err := store.RecordAttempt(context.Background(), deliveries[0].ID, db.DeliveryPending, 503, time.Millisecond, "answered 503 Service Unavailable", time.Now()); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/settings/webhooks", nil)
	req.Header.Set("Accept-Language", "zh-TW")
	_, doc = cl.do(req)
	if got := doc.Find(`[data-testid="delivery-error"]`).First().Text(); got != "端點回應 503 Service Unavailable" {
		t.Fatalf("the delivery error reads %q in Chinese", got)
	}
}

func TestAPIWebhooksAndActivation(t *testing.T) {
	app, _ := newTestApp(t, true, withWebhooks(t, nil))
	cl := signedIn(t, app)
	tok := newToken(t, cl, "gitops")
	var bad apiError
	if resp := apiCall(t, app, tok, "POST", "/api/v1/webhooks", map[string]any{"url": "ftp://x", "secret": "short", "events": []string{"job.exploded"}}, &bad); resp.StatusCode != 422 || len(bad.Errors) != 3 {
		t.Fatalf("a bad endpoint: %d %+v", resp.StatusCode, bad)
	}
	var w APIWebhook
	secret := "the-receivers-secret-42"
	if resp := apiCall(t, app, tok, "POST", "/api/v1/webhooks", map[string]any{"url": "https://chat.example.com/hook", "secret": secret, "events": []string{"job.failed"}}, &w); resp.StatusCode != 201 || w.ID == 0 || w.CreatedBy != "admin (API token gitops)" {
		t.Fatalf("create webhook: %d %+v", resp.StatusCode, w)
	}
	resp := apiCall(t, app, tok, "GET", "/api/v1/webhooks", nil, nil)
	if raw, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || !strings.Contains(string(raw), "chat.example.com") || strings.Contains(string(raw), secret) {
		t.Fatalf("list webhooks: %d %s", resp.StatusCode, raw)
	}
	var deliveries []APIDelivery
	if resp := apiCall(t, app, tok, "GET", "/api/v1/webhook-deliveries", nil, &deliveries); resp.StatusCode != 200 || len(deliveries) != 0 {
		t.Fatalf("deliveries: %d %+v", resp.StatusCode, deliveries)
	}
	if resp := apiCall(t, app, tok, "DELETE", "/api/v1/webhooks/"+jsonNumber(w.ID), nil, nil); resp.StatusCode != 204 {
		t.Fatalf("delete webhook: %d", resp.StatusCode)
	}
	var created apiv1.SpecResult
	if resp := apiCall(t, app, tok, "POST", "/api/v1/specs", map[string]any{"name": "tools", "baseImage": "busybox"}, &created); resp.StatusCode != 201 {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	if resp := apiCall(t, app, tok, "POST", "/api/v1/specs/tools/active", map[string]any{}, &bad); resp.StatusCode != 400 {
		t.Fatalf("activate without a job: %d %+v", resp.StatusCode, bad)
	}
	if resp := apiCall(t, app, tok, "POST", "/api/v1/specs/tools/active", map[string]any{"job": created.Job.ID}, &bad); resp.StatusCode != 409 {
		t.Fatalf("activating a pending job: %d %+v", resp.StatusCode, bad)
	}
	if resp := apiCall(t, app, tok, "GET", "/api/v1/jobs/"+jsonNumber(created.Job.ID)+"/packages", nil, &bad); resp.StatusCode != 404 || !strings.Contains(bad.Message, "no package inventory") {
		t.Fatalf("packages of a pending job: %d %+v", resp.StatusCode, bad)
	}
}

// withWebhooks gives the test portal a webhook dispatcher (and hands it to
// *into when into is not nil).
func withWebhooks(t *testing.T, into **webhooks.Dispatcher) func(*Deps) {
	return func(d *Deps) {
		box, err := settings.OpenSecretBox(filepath.Join(t.TempDir(), "secret.key"))
		if err != nil {
			t.Fatal(err)
		}
		d.Webhooks = webhooks.New(webhooks.Config{DB: d.DB, Box: box})
		if into != nil {
			*into = d.Webhooks
		}
	}
}
