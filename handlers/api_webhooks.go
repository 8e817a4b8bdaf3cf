package handlers

import (
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"imagebuilder/db"
)

// The webhooks API: endpoints and their deliveries.

// APIWebhook is an endpoint (never its secret).
type APIWebhook struct {
	ID        int64     `json:"id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	CreatedBy string    `json:"createdBy"`
	CreatedAt time.Time `json:"createdAt"`
}

func (h *handler) apiListWebhooks(c *fiber.Ctx) error {
	hooks, err := h.DB.ListWebhooks(c.UserContext())
	if err != nil {
		return err
	}
	out := []APIWebhook{}
	for _, w := range hooks {
		out = append(out, APIWebhook{w.ID, w.URL, w.Events, w.CreatedBy, w.CreatedAt})
	}
	return c.JSON(out)
}

func (h *handler) apiCreateWebhook(c *fiber.Ctx) error {
	if h.Webhooks == nil {
		return fiber.ErrNotFound
	}
	var in struct {
		URL    string   `json:"url"`
		Secret string   `json:"secret"`
		Events []string `json:"events"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	w, err := h.Webhooks.Add(c.UserContext(), in.URL, in.Secret, in.Events, db.ActorOf(c.UserContext()))
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(APIWebhook{w.ID, w.URL, w.Events, w.CreatedBy, w.CreatedAt})
}

func (h *handler) apiDeleteWebhook(c *fiber.Ctx) error {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return fiber.NewError(fiber.StatusNotFound, locOf(c).T("api.badnumber", "id", c.Params("id")))
	}
	if err := h.DB.DeleteWebhook(c.UserContext(), id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// APIDelivery is one webhook delivery and its last attempt.
type APIDelivery struct {
	ID         int64      `json:"id"`
	Webhook    int64      `json:"webhook"`
	URL        string     `json:"url"`
	Event      string     `json:"event"`
	Job        int64      `json:"job"`
	State      string     `json:"state"`
	Attempts   int        `json:"attempts"`
	StatusCode int        `json:"statusCode,omitempty"`
	DurationMS int64      `json:"durationMs,omitempty"`
	Error      string     `json:"error,omitempty"`
	CreatedAt  time.Time  `json:"createdAt"`
	LastAt     *time.Time `json:"lastAttemptAt,omitempty"`
	NextAt     *time.Time `json:"nextAttemptAt,omitempty"`
}

func (h *handler) apiListDeliveries(c *fiber.Ctx) error {
	limit := min(max(c.QueryInt("limit", 50), 1), 500)
	deliveries, err := h.DB.RecentDeliveries(c.UserContext(), limit)
	if err != nil {
		return err
	}
	out := []APIDelivery{}
	for _, x := range deliveries {
		d := APIDelivery{ID: x.ID, Webhook: x.WebhookID, URL: x.URL, Event: x.Event, Job: x.JobID, State: x.State, Attempts: x.Attempts,
			StatusCode: x.StatusCode, DurationMS: x.Duration.Milliseconds(), Error: x.Error, CreatedAt: x.CreatedAt, LastAt: timePtr(x.LastAt)}
		if x.State == db.DeliveryPending {
			d.NextAt = timePtr(x.NextAt)
		}
		out = append(out, d)
	}
	return c.JSON(out)
}

func (h *handler) apiRedeliver(c *fiber.Ctx) error {
	if h.Webhooks == nil {
		return fiber.ErrNotFound
	}
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return fiber.NewError(fiber.StatusNotFound, locOf(c).T("api.badnumber", "id", c.Params("id")))
	}
	nid, err := h.Webhooks.Redeliver(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(struct {
		ID int64 `json:"id"`
	}{nid})
}
