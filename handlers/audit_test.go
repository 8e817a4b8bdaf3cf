package handlers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"imagebuilder/builder/executor"
	"imagebuilder/builder/housekeeping"
	"imagebuilder/builder/queue"
	"imagebuilder/builder/registry"
	"imagebuilder/builder/webhooks"
	"imagebuilder/db"
	"imagebuilder/db/failure"
	"imagebuilder/views"
)

// notChanging are the mutating-method routes that change nothing an
// administrator answers for, with why.
var notChanging = map[string]string{
	"POST /lang":                   "the browser's language cookie",
	"POST /specs/check":            "the form's live checks",
	"POST /specs/preview":          "the form's Containerfile preview",
	"POST /specs/check-base":       "the form's base image check",
	"POST /settings/registry/test": "tries the registry, stores nothing",
	"POST /api/v1/registry/test":   "tries the registry, stores nothing",
	"POST /setup":                  "audited in TestSetupIsAudited (needs a portal with no administrator)",
}

// auditEnv is one portal with everything its routes need, and a signed-in
// browser and an API token of the administrator.
type auditEnv struct {
	t     *testing.T
	app   *fiber.App
	store *db.DB
	cl    *client
	token string
	n     int
}

// spec makes a spec (as the system: no audit entry) and returns its job.
func (e *auditEnv) spec() db.Job {
	e.n++
	_, j, err := e.store.CreateSpec(context.Background(), db.ImageSpec{Name: fmt.Sprintf("audited-%d", e.n), BaseImage: "busybox"}, "registry.test")
	if err != nil {
		e.t.Fatal(err)
	}
	return j
}

// finished makes a spec whose first job ended with status.
func (e *auditEnv) finished(status db.Status) db.Job {
	j := e.spec()
	ctx := context.Background()
	for {
		c, ok, err := e.store.ClaimNextJob(ctx)
		if err != nil || !ok {
			e.t.Fatalf("claim: %v", err)
		}
		out := db.JobOutcome{Status: status, Image: "registry.test/" + c.SpecName + ":1", Digest: "sha256:" + strings.Repeat("a", 64)}
		if status != db.StatusSucceeded {
			out.Failure = failure.New(failure.Other, "failed")
		}
		if _, err := e.store.FinishJob(ctx, c.ID, out); err != nil {
			e.t.Fatal(err)
		}
		if c.ID == j.ID {
			got, err := e.store.GetJob(ctx, j.ID)
			if err != nil {
				e.t.Fatal(err)
			}
			return got
		}
	}
}

func (e *auditEnv) post(path string, v url.Values) *http.Response {
	resp, _ := e.cl.post(path, v)
	return resp
}

func (e *auditEnv) api(method, path string, body any) *http.Response {
	return apiCall(e.t, e.app, e.token, method, path, body, nil)
}

// fixedBase resolves every base image to one digest: the check of base
// images is what the route audits, not the registry.
type fixedBase struct{}

func (fixedBase) ResolveBase(context.Context, string, []byte) (string, error) {
	return "sha256:" + strings.Repeat("b", 64), nil
}

func (fixedBase) Retag(context.Context, registry.Target, string, string, io.Writer) (int64, error) {
	return 0, errors.New("no retagging here")
}

// stubCaches stands for the in-process engine's package caches, which
// need Buildah; clearing them is what the route audits.
type stubCaches struct{}

func (stubCaches) Caches() []executor.CacheInfo { return nil }
func (stubCaches) ClearCaches() error           { return nil }
func (stubCaches) StepLimits() bool             { return false }

// Every route that changes something records who did it in the audit log:
// the test walks the app's route table, so a new mutating route fails here
// until it is audited (and given a request below) or listed in
// notChanging.
func TestEveryMutatingRouteIsAudited(t *testing.T) {
	var hooks *webhooks.Dispatcher
	app, store := newTestApp(t, true, withWebhooks(t, &hooks), func(d *Deps) {
		d.Caches = stubCaches{}
		d.Housekeeping = &housekeeping.Keeper{DB: d.DB, Logs: d.Logs, Default: d.Settings.Retention}
		d.APIRate = 1 << 20
		d.Queue = queue.New(d.DB, nil, d.Logs, queue.Config{Registry: d.Settings.Registry, PullSecret: d.Settings.PullSecret,
			Sources: d.Settings.Sources, Reuse: fixedBase{}})
	})
	e := &auditEnv{t: t, app: app, store: store}
	e.cl = signedIn(t, app)
	e.token = newToken(t, e.cl, "audit-walk")
	ctx := context.Background()
	secret := `{"auths":{"registry.example.com":{"auth":"dTpw"}}}`
	webhook := func() db.Webhook {
		w, err := store.CreateWebhook(ctx, db.Webhook{URL: "https://hooks.example.com/" + fmt.Sprint(time.Now().UnixNano()), Sealed: []byte("sealed"), Events: []string{db.EventJobFailed}, CreatedBy: "admin"})
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	delivery := func() int64 {
		w := webhook()
		hooks.JobFinished(e.finished(db.StatusFailed))
		ds, err := store.RecentDeliveries(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.WebhookID == w.ID {
				return d.ID
			}
		}
		t.Fatal("no delivery")
		return 0
	}
	baseImage := func() int64 {
		b, err := store.SaveBaseImage(ctx, db.BaseImage{Name: "b", Reference: fmt.Sprintf("registry.test/base:%d", time.Now().UnixNano())})
		if err != nil {
			t.Fatal(err)
		}
		return b.ID
	}
	admin, _ := store.GetAdminByUsername(ctx, "admin")
	sessionIDs := func() map[string]bool {
		sessions, err := store.ListSessions(ctx, admin.ID)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, x := range sessions {
			out[x.ID] = true
		}
		return out
	}
	otherSession := func() string {
		before := sessionIDs()
		if resp := newClient(t, app).login("admin", testPassword); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("second sign-in: %d", resp.StatusCode)
		}
		for id := range sessionIDs() {
			if !before[id] {
				return sessionHandle(id)
			}
		}
		t.Fatal("no second session")
		return ""
	}
	id := func(j db.Job) string { return fmt.Sprint(j.ID) }
	requests := map[string]func() *http.Response{
		"POST /login": func() *http.Response {
			return newClient(t, app).login("admin", testPassword)
		},
		"POST /logout": func() *http.Response {
			other := newClient(t, app)
			other.login("admin", testPassword)
			other.get("/specs")
			resp, _ := other.post("/logout", nil)
			return resp
		},
		"POST /specs": func() *http.Response {
			return e.post("/specs", url.Values{"name": {"audit-created"}, "baseImage": {"busybox"}})
		},
		"POST /specs/check-bases": func() *http.Response { return e.post("/specs/check-bases", nil) },
		"POST /specs/:name": func() *http.Response {
			j := e.spec()
			return e.post("/specs/"+j.SpecName, url.Values{"baseImage": {"busybox:1"}})
		},
		"POST /specs/:name/delete": func() *http.Response { return e.post("/specs/"+e.spec().SpecName+"/delete", nil) },
		"POST /jobs/:id/cancel":    func() *http.Response { return e.post("/jobs/"+id(e.spec())+"/cancel", nil) },
		"POST /jobs/:id/retry":     func() *http.Response { return e.post("/jobs/"+id(e.finished(db.StatusFailed))+"/retry", nil) },
		"POST /jobs/:id/rebuild":   func() *http.Response { return e.post("/jobs/"+id(e.finished(db.StatusSucceeded))+"/rebuild", nil) },
		"POST /jobs/:id/rebuild-pinned": func() *http.Response {
			j := e.finished(db.StatusSucceeded)
			if err := store.SaveInventory(ctx, db.Inventory{JobID: j.ID, OK: true, ScannedAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
			return e.post("/jobs/"+id(j)+"/rebuild-pinned", nil)
		},
		"POST /specs/:name/active": func() *http.Response {
			return e.post("/specs/"+e.finished(db.StatusSucceeded).SpecName+"/active", url.Values{"job": {"0"}})
		},
		"POST /specs/:name/alias": func() *http.Response { return e.post("/specs/"+e.spec().SpecName+"/alias", url.Values{"on": {"1"}}) },
		"POST /specs/:name/base-policy": func() *http.Response {
			return e.post("/specs/"+e.spec().SpecName+"/base-policy", url.Values{"policy": {"rebuild"}})
		},
		"POST /specs/:name/retention": func() *http.Response {
			return e.post("/specs/"+e.spec().SpecName+"/retention", url.Values{"own": {"1"}, "keepSucceeded": {"3"}, "keepFailed": {"2"}, "logDays": {"9"}})
		},
		"POST /settings/storage/retention": func() *http.Response {
			return e.post("/settings/storage/retention", url.Values{"keepSucceeded": {"4"}, "keepFailed": {"2"}, "logDays": {"30"}})
		},
		"POST /settings/storage/housekeeping": func() *http.Response { return e.post("/settings/storage/housekeeping", nil) },
		"POST /settings/storage/schedule": func() *http.Response {
			return e.post("/settings/storage/schedule", url.Values{"housekeepingEvery": {"2h"}, "baseCheckEvery": {"12h"}})
		},
		"POST /settings/storage/clear-caches": func() *http.Response { return e.post("/settings/storage/clear-caches", nil) },
		"POST /settings/builds/sources": func() *http.Response {
			return e.post("/settings/builds/sources", url.Values{"pipIndexURL": {"https://pypi.example.com/simple"}})
		},
		"POST /settings/builds/limits": func() *http.Response {
			return e.post("/settings/builds/limits", url.Values{"memory": {"1GiB"}, "cpus": {"1"}})
		},
		"POST /images": func() *http.Response {
			return e.post("/images", url.Values{"name": {"Team"}, "reference": {"registry.test/team:1"}})
		},
		"POST /images/:id": func() *http.Response {
			return e.post(fmt.Sprintf("/images/%d", baseImage()), url.Values{"name": {"Renamed"}, "reference": {"registry.test/renamed:1"}})
		},
		"POST /images/:id/delete": func() *http.Response { return e.post(fmt.Sprintf("/images/%d/delete", baseImage()), nil) },
		"POST /settings/secrets": func() *http.Response {
			return e.post("/settings/secrets", url.Values{"name": {"team-pull"}, "content": {secret}})
		},
		"POST /settings/secrets/:name/delete": func() *http.Response {
			e.post("/settings/secrets", url.Values{"name": {"to-delete"}, "content": {secret}})
			return e.post("/settings/secrets/to-delete/delete", nil)
		},
		"POST /account/password": func() *http.Response {
			return e.post("/account/password", url.Values{"current": {testPassword}, "new": {testPassword}, "confirm": {testPassword}})
		},
		"POST /account/sessions/:handle/delete": func() *http.Response {
			return e.post("/account/sessions/"+otherSession()+"/delete", nil)
		},
		"POST /account/sessions/delete-others": func() *http.Response {
			otherSession()
			return e.post("/account/sessions/delete-others", nil)
		},
		"POST /account/tokens": func() *http.Response {
			return e.post("/account/tokens", url.Values{"tokenName": {"ci"}, "tokenDays": {"30"}})
		},
		"POST /account/tokens/:id/delete": func() *http.Response {
			tok, err := store.CreateAPIToken(ctx, "old", "ibt_ol", "admin", tokenHash("ibt_old"+fmt.Sprint(time.Now().UnixNano())), time.Now().Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			return e.post(fmt.Sprintf("/account/tokens/%d/delete", tok.ID), nil)
		},
		"POST /settings/webhooks": func() *http.Response {
			return e.post("/settings/webhooks", url.Values{"url": {"https://chat.example.com/hook"}, "secret": {"a-receiver-secret-1234"}, "events": {db.EventJobFailed}})
		},
		"POST /settings/webhooks/:id/delete": func() *http.Response {
			return e.post(fmt.Sprintf("/settings/webhooks/%d/delete", webhook().ID), nil)
		},
		"POST /settings/webhooks/deliveries/:id/redeliver": func() *http.Response {
			return e.post(fmt.Sprintf("/settings/webhooks/deliveries/%d/redeliver", delivery()), nil)
		},
		"POST /settings/registry": func() *http.Response {
			return e.post("/settings/registry", url.Values{"mode": {"external"}, "host": {"registry.example.com"}, "username": {"bob"}, "password": {"s3cret-registry-password"}})
		},
		"POST /api/v1/specs": func() *http.Response {
			return e.api("POST", "/api/v1/specs", map[string]any{"name": "api-created", "baseImage": "busybox"})
		},
		"PUT /api/v1/specs/:name": func() *http.Response {
			return e.api("PUT", "/api/v1/specs/"+e.spec().SpecName, map[string]any{"baseImage": "busybox:2"})
		},
		"DELETE /api/v1/specs/:name":   func() *http.Response { return e.api("DELETE", "/api/v1/specs/"+e.spec().SpecName, nil) },
		"POST /api/v1/jobs/:id/cancel": func() *http.Response { return e.api("POST", "/api/v1/jobs/"+id(e.spec())+"/cancel", nil) },
		"POST /api/v1/jobs/:id/retry": func() *http.Response {
			return e.api("POST", "/api/v1/jobs/"+id(e.finished(db.StatusFailed))+"/retry", nil)
		},
		"POST /api/v1/specs/:name/active": func() *http.Response {
			j := e.finished(db.StatusSucceeded)
			return e.api("POST", "/api/v1/specs/"+j.SpecName+"/active", map[string]any{"job": j.ID})
		},
		"POST /api/v1/base-images": func() *http.Response {
			return e.api("POST", "/api/v1/base-images", map[string]any{"name": "API", "reference": "registry.test/api:1"})
		},
		"DELETE /api/v1/base-images/:id": func() *http.Response {
			return e.api("DELETE", fmt.Sprintf("/api/v1/base-images/%d", baseImage()), nil)
		},
		"POST /api/v1/pull-secrets": func() *http.Response {
			return e.api("POST", "/api/v1/pull-secrets", map[string]any{"name": "api-pull", "content": secret})
		},
		"DELETE /api/v1/pull-secrets/:name": func() *http.Response {
			e.api("POST", "/api/v1/pull-secrets", map[string]any{"name": "api-delete", "content": secret})
			return e.api("DELETE", "/api/v1/pull-secrets/api-delete", nil)
		},
		"POST /api/v1/webhooks": func() *http.Response {
			return e.api("POST", "/api/v1/webhooks", map[string]any{"url": "https://chat.example.com/api", "secret": "the-receivers-secret-42", "events": []string{"job.failed"}})
		},
		"DELETE /api/v1/webhooks/:id": func() *http.Response {
			return e.api("DELETE", fmt.Sprintf("/api/v1/webhooks/%d", webhook().ID), nil)
		},
		"POST /api/v1/webhook-deliveries/:id/redeliver": func() *http.Response {
			return e.api("POST", fmt.Sprintf("/api/v1/webhook-deliveries/%d/redeliver", delivery()), nil)
		},
		"POST /api/v1/housekeeping": func() *http.Response { return e.api("POST", "/api/v1/housekeeping", nil) },
	}
	count := func() int {
		events, err := store.ListAudit(ctx, "", 100000, 0)
		if err != nil {
			t.Fatal(err)
		}
		return len(events)
	}
	walked := 0
	for _, r := range app.GetRoutes(true) {
		if !isMutating(r.Method) || r.Method == fiber.MethodConnect || strings.HasPrefix(r.Path, "/static") {
			continue
		}
		key := r.Method + " " + r.Path
		if _, ok := notChanging[key]; ok || r.Path == "/api/*" { // an unknown API path: a JSON 404
			continue
		}
		req, ok := requests[key]
		if !ok {
			t.Errorf("%s changes something and is not audited by this test: give it a request here (and an audit entry), or say in notChanging why it changes nothing", key)
			continue
		}
		walked++
		before := count()
		resp := req()
		if resp.StatusCode >= 400 {
			t.Errorf("%s: %d", key, resp.StatusCode)
			continue
		}
		events, _ := store.ListAudit(ctx, "", 1, 0)
		if after := count(); after <= before {
			t.Errorf("%s (%d) wrote no audit entry", key, resp.StatusCode)
		} else if events[0].Actor == "" || !strings.HasPrefix(events[0].Actor, "admin") {
			t.Errorf("%s: the entry names %q, not the administrator", key, events[0].Actor)
		}
	}
	if walked < 45 {
		t.Fatalf("only %d routes walked", walked)
	}
	// No entry holds a secret value.
	events, _ := store.ListAudit(ctx, "", 100000, 0)
	for _, ev := range events {
		for _, s := range []string{"s3cret-registry-password", "dTpw", "a-receiver-secret-1234", "the-receivers-secret-42", e.token} {
			if strings.Contains(ev.Detail.String()+ev.Target, s) {
				t.Errorf("audit entry %s holds a secret: %q %q", ev.Action, ev.Target, ev.Detail)
			}
		}
	}
	// Every action has a name in both languages, and every detail its
	// Chinese wording.
	for _, ev := range events {
		for _, lang := range []string{views.LangEN, views.LangZH} {
			if !views.Has(lang, "audit.action."+ev.Action) {
				t.Errorf("%s has no words for audit action %q", lang, ev.Action)
			}
		}
		if ev.Detail.Format != "" && !views.Translates(views.LangZH, ev.Detail.Format) {
			t.Errorf("zh-TW has no wording for the audit detail %q", ev.Detail.Format)
		}
	}
}

// The first administrator, made on the setup page, is on record.
func TestSetupIsAudited(t *testing.T) {
	app, store := newTestApp(t, false)
	cl := newClient(t, app)
	cl.get("/setup")
	if resp, _ := cl.post("/setup", url.Values{"username": {"root"}, "password": {testPassword}, "confirm": {testPassword}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("setup: %d", resp.StatusCode)
	}
	events, err := store.ListAudit(context.Background(), "", 10, 0)
	if err != nil || len(events) < 1 {
		t.Fatalf("events %v %v", events, err)
	}
	found := false
	for _, ev := range events {
		found = found || (ev.Action == db.ActionAdminCreate && ev.Actor == "root" && ev.Target == "root")
	}
	if !found {
		t.Fatalf("no admin-create entry: %+v", events)
	}
}
