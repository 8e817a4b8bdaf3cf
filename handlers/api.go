package handlers

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/limiter"

	"imagebuilder/builder/message"
	"imagebuilder/builder/queue"
	"imagebuilder/builder/spec"
	"imagebuilder/db"
)

// The JSON API (/api/v1): the same operations as the portal for scripts
// and the command line, authenticated by API tokens only (a session
// cookie never authenticates it, so it needs no CSRF token), rate limited
// per token, with errors as JSON in the request's language.

// APITokenPrefix starts every API token, so a leaked one is recognisable.
const APITokenPrefix = "ibt_"

// DefaultAPIRate is how many requests one token may make a minute.
const DefaultAPIRate = 600

// apiError is every API error's body. Errors lists a spec's problems one
// by one: the list (field) they are in, the line (1-based, 0 for the
// field itself), a code a script can match and the message.
type apiError struct {
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Errors  []apiFieldError `json:"errors,omitempty"`
}

type apiFieldError struct {
	List    string `json:"list"`
	Line    int    `json:"line,omitempty"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// apiErrors turns what an API handler returns into a JSON error.
func (h *handler) apiErrors(c *fiber.Ctx) error {
	err := c.Next()
	if err == nil {
		return nil
	}
	loc := locOf(c)
	status, body := fiber.StatusInternalServerError, apiError{Code: "internal", Message: "internal error; the server log says more"}
	var verr spec.ValidationError
	var fe *fiber.Error
	var de *db.Error
	switch {
	case errors.As(err, &verr):
		status, body = fiber.StatusUnprocessableEntity, apiError{Code: "invalid", Message: loc.N("api.invalid", len(verr))}
		for _, e := range verr {
			body.Errors = append(body.Errors, apiFieldError{List: e.Field, Line: e.Line, Code: e.Message.Code(), Message: say(loc, e.Message)})
		}
	case errors.As(err, &fe):
		status, body = fe.Code, apiError{Code: statusCode(fe.Code), Message: fe.Message}
	case errors.As(err, &de) && errors.Is(err, db.ErrNotFound):
		status, body = fiber.StatusNotFound, apiError{Code: "not-found", Message: say(loc, err)}
	case errors.As(err, &de) && errors.Is(err, db.ErrConflict):
		status, body = fiber.StatusConflict, apiError{Code: "conflict", Message: say(loc, err)}
	case errors.Is(err, queue.ErrNoRegistry):
		status, body = fiber.StatusServiceUnavailable, apiError{Code: "no-registry", Message: err.Error()}
	default:
		var m message.Message
		if errors.As(err, &m) {
			status, body = fiber.StatusBadRequest, apiError{Code: m.Code(), Message: say(loc, m)}
			break
		}
		h.Log.Error("API request failed", "method", c.Method(), "path", c.Path(), "err", err)
	}
	if status == fiber.StatusUnauthorized {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="imagebuilder"`)
	}
	return c.Status(status).JSON(body)
}

// statusCode names an HTTP status for an error body.
func statusCode(status int) string {
	switch status {
	case fiber.StatusBadRequest:
		return "bad-request"
	case fiber.StatusUnauthorized:
		return "unauthorized"
	case fiber.StatusForbidden:
		return "forbidden"
	case fiber.StatusNotFound:
		return "not-found"
	case fiber.StatusConflict:
		return "conflict"
	case fiber.StatusPreconditionFailed:
		return "precondition-failed"
	case fiber.StatusRequestEntityTooLarge:
		return "too-large"
	case fiber.StatusTooManyRequests:
		return "rate-limited"
	}
	return "error"
}

// tokenHash is what the store keeps of a token.
func tokenHash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// apiAuth lets a request through with a valid bearer token, as the
// token's administrator; cookies are ignored.
func (h *handler) apiAuth(c *fiber.Ctx) error {
	if c.Path() == "/api/v1/openapi.json" {
		return c.Next()
	}
	header := c.Get(fiber.HeaderAuthorization)
	scheme, token, found := strings.Cut(header, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || !strings.HasPrefix(token, APITokenPrefix) {
		return fiber.NewError(fiber.StatusUnauthorized, locOf(c).T("api.unauthorized"))
	}
	t, err := h.DB.APITokenByHash(c.UserContext(), tokenHash(strings.TrimSpace(token)))
	if errors.Is(err, db.ErrNotFound) || (err == nil && !t.Valid(time.Now())) {
		return fiber.NewError(fiber.StatusUnauthorized, locOf(c).T("api.badtoken"))
	}
	if err != nil {
		return err
	}
	if time.Since(t.LastUsed) > time.Minute {
		_ = h.DB.TouchAPIToken(c.UserContext(), t.ID) // a missed touch only makes "last used" older
	}
	c.Locals("token", t)
	c.SetUserContext(db.WithActor(c.UserContext(), t.CreatedBy+" (API token "+t.Name+")"))
	return c.Next()
}

// apiLimiter allows each token h.APIRate requests a minute.
func (h *handler) apiLimiter() fiber.Handler {
	rate := h.APIRate
	if rate <= 0 {
		rate = DefaultAPIRate
	}
	return limiter.New(limiter.Config{
		Max:        rate,
		Expiration: time.Minute,
		Next: func(c *fiber.Ctx) bool {
			_, ok := c.Locals("token").(db.APIToken)
			return !ok // the open document
		},
		KeyGenerator: func(c *fiber.Ctx) string {
			t, _ := c.Locals("token").(db.APIToken)
			return strconv.FormatInt(t.ID, 10)
		},
		LimitReached: func(c *fiber.Ctx) error {
			return fiber.NewError(fiber.StatusTooManyRequests, locOf(c).T("api.ratelimited", rate))
		},
	})
}

// mountAPI adds the API's routes. They come before the portal's sign-in
// check, which they never reach: an unknown /api path is a JSON 404.
func (h *handler) mountAPI(app *fiber.App) {
	root := app.Group("/api", h.apiErrors)
	v1 := root.Group("/v1", h.apiAuth, h.apiLimiter())
	v1.Get("/openapi.json", h.apiOpenAPI)
	v1.Get("/specs", h.apiListSpecs)
	v1.Post("/specs", h.apiCreateSpec)
	v1.Get("/specs/:name", h.apiGetSpec)
	v1.Put("/specs/:name", h.apiPutSpec)
	v1.Delete("/specs/:name", h.apiDeleteSpec)
	v1.Get("/specs/:name/jobs", h.apiListJobs)
	v1.Get("/jobs", h.apiListJobs)
	v1.Get("/jobs/:id", h.apiGetJob)
	v1.Post("/jobs/:id/cancel", h.apiCancelJob)
	v1.Post("/jobs/:id/retry", h.apiRetryJob)
	v1.Get("/jobs/:id/log", h.downloadLog)
	v1.Get("/jobs/:id/log/tail", h.apiLogTail)
	v1.Get("/jobs/:id/events", h.jobEvents)
	v1.Get("/base-images", h.apiListBaseImages)
	v1.Post("/base-images", h.apiCreateBaseImage)
	v1.Delete("/base-images/:id", h.apiDeleteBaseImage)
	v1.Get("/pull-secrets", h.apiListPullSecrets)
	v1.Post("/pull-secrets", h.apiCreatePullSecret)
	v1.Delete("/pull-secrets/:name", h.apiDeletePullSecret)
	v1.Get("/registry", h.apiGetRegistry)
	v1.Post("/registry/test", h.apiTestRegistry)
	v1.Get("/jobs/:id/packages", h.apiPackages)
	v1.Get("/jobs/:id/sbom.spdx.json", h.sbomSPDX)
	v1.Get("/jobs/:id/sbom.cdx.json", h.sbomCycloneDX)
	v1.Get("/jobs/:id/pinned.json", h.downloadPinned)
	v1.Post("/specs/:name/active", h.apiActivate)
	v1.Get("/webhooks", h.apiListWebhooks)
	v1.Post("/webhooks", h.apiCreateWebhook)
	v1.Delete("/webhooks/:id", h.apiDeleteWebhook)
	v1.Get("/webhook-deliveries", h.apiListDeliveries)
	v1.Post("/webhook-deliveries/:id/redeliver", h.apiRedeliver)
	v1.Post("/housekeeping", h.apiHousekeeping)
	if h.Metrics != nil {
		// Prometheus scrapes with a bearer token too (or --metrics-addr).
		app.Get("/metrics", h.apiErrors, h.apiAuth, adaptor.HTTPHandler(h.Metrics))
	}
	root.All("/*", func(c *fiber.Ctx) error {
		return fiber.NewError(fiber.StatusNotFound, locOf(c).T("api.noroute", c.Method(), c.Path()))
	})
}

// decodeJSON reads the request body into v, refusing unknown fields (a
// misspelt "apt" is an error, not an empty list).
func decodeJSON(c *fiber.Ctx, v any) error {
	dec := json.NewDecoder(bytes.NewReader(c.Body()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fiber.NewError(fiber.StatusBadRequest, locOf(c).T("api.badjson", err.Error()))
	}
	return nil
}
