package handlers

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"imagebuilder/builder/webhooks"
	"imagebuilder/db"
	"imagebuilder/views"
)

// webhooksPage lists the endpoints and the latest deliveries.
func (h *handler) webhooksPage(c *fiber.Ctx) error {
	v := views.WebhooksPage{Form: views.WebhookForm{Events: db.WebhookEvents}}
	switch c.Query("done") {
	case "added":
		v.Notice = locOf(c).T("webhooks.added")
	case "redelivered":
		v.Notice = locOf(c).T("webhooks.redelivered")
	}
	return h.renderWebhooks(c, fiber.StatusOK, v)
}

func (h *handler) renderWebhooks(c *fiber.Ctx, status int, v views.WebhooksPage) error {
	if h.Webhooks == nil {
		return fiber.ErrNotFound
	}
	ctx := c.UserContext()
	l := h.layout(c, "", "webhooks")
	l.Title = l.Loc.T("webhooks.title")
	v.Layout, v.AllEvents = l, db.WebhookEvents
	hooks, err := h.DB.ListWebhooks(ctx)
	if err != nil {
		return err
	}
	for _, w := range hooks {
		v.Hooks = append(v.Hooks, views.WebhookRow{ID: w.ID, URL: w.URL, Events: w.Events, CreatedBy: w.CreatedBy, CreatedAt: w.CreatedAt})
	}
	deliveries, err := h.DB.RecentDeliveries(ctx, 50)
	if err != nil {
		return err
	}
	for _, x := range deliveries {
		row := views.DeliveryRow{ID: x.ID, URL: x.URL, Event: x.Event, JobID: x.JobID, State: x.State, Attempts: x.Attempts,
			StatusCode: x.StatusCode, Error: deliveryError(l.Loc, x), CreatedAt: x.CreatedAt, LastAt: x.LastAt}
		// The payload names the spec and revision, even once retention
		// has deleted the job.
		var p webhooks.Payload
		if json.Unmarshal([]byte(x.Payload), &p) == nil {
			row.Spec, row.Revision = p.Job.Spec, p.Job.Revision
		}
		if x.Attempts > 0 {
			row.Duration = strconv.FormatInt(x.Duration.Milliseconds(), 10) + " ms"
		}
		if x.State == db.DeliveryPending {
			row.NextAt = x.NextAt
		}
		v.Deliveries = append(v.Deliveries, row)
	}
	return render(c, status, l, views.WebhooksContent(v))
}

// deliveryError says why a delivery's last attempt failed in the page's
// language; a network error's own text (the system's) stays as it is.
func deliveryError(loc views.Loc, x db.Delivery) string {
	switch {
	case x.Error == "":
		return ""
	case x.StatusCode >= 300:
		return loc.T("webhooks.answered", x.StatusCode, http.StatusText(x.StatusCode))
	case strings.HasPrefix(x.Error, webhooks.ErrNoAnswer):
		return loc.T("webhooks.noanswer", strings.TrimSpace(strings.TrimPrefix(x.Error, webhooks.ErrNoAnswer)))
	case x.Error == webhooks.ErrRefusedAddress:
		return loc.T("webhooks.refused")
	}
	return x.Error
}

// addWebhook registers an endpoint; the secret is write-only.
func (h *handler) addWebhook(c *fiber.Ctx) error {
	if h.Webhooks == nil {
		return fiber.ErrNotFound
	}
	f := views.WebhookForm{URL: utils.CopyString(strings.TrimSpace(c.FormValue("url")))}
	c.Request().PostArgs().VisitAll(func(k, v []byte) {
		if string(k) == "events" {
			f.Events = append(f.Events, string(v))
		}
	})
	s, _ := sessionOf(c)
	_, err := h.Webhooks.Add(c.UserContext(), f.URL, c.FormValue("secret"), f.Events, s.Username)
	if errs := fieldErrors(locOf(c), err); errs != nil {
		f.Errors = errs // the secret is not sent back
		return h.renderWebhooks(c, fiber.StatusUnprocessableEntity, views.WebhooksPage{Form: f})
	}
	if err != nil {
		return err
	}
	return redirectAfterPost(c, "/settings/webhooks?done=added")
}

func (h *handler) deleteWebhook(c *fiber.Ctx) error {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return fiber.ErrNotFound
	}
	if err := h.DB.DeleteWebhook(c.UserContext(), id); err != nil {
		return err
	}
	return redirectAfterPost(c, "/settings/webhooks")
}

// redeliver sends a delivery again, as a new one.
func (h *handler) redeliver(c *fiber.Ctx) error {
	if h.Webhooks == nil {
		return fiber.ErrNotFound
	}
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return fiber.ErrNotFound
	}
	if _, err := h.Webhooks.Redeliver(c.UserContext(), id); err != nil {
		return err
	}
	return redirectAfterPost(c, "/settings/webhooks?done=redelivered#deliveries")
}
