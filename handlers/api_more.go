package handlers

import (
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"imagebuilder/builder/housekeeping"
	"imagebuilder/db"
)

// The rest of what the portal does, through the API: a revision's
// packages, SBOMs and pinned spec, the active revision, webhooks and
// housekeeping.

func (h *handler) mountAPIMore(v1 fiber.Router) {
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
}

// apiPackages is a succeeded revision's package inventory.
func (h *handler) apiPackages(c *fiber.Ctx) error {
	j, inv, err := h.inventoryOf(c)
	if err != nil {
		return err
	}
	pkgs := inv.Packages
	if pkgs == nil {
		pkgs = []db.Package{}
	}
	return c.JSON(struct {
		Job           int64        `json:"job"`
		Image         string       `json:"image"`
		Digest        string       `json:"digest"`
		DistroID      string       `json:"distroId,omitempty"`
		DistroVersion string       `json:"distroVersion,omitempty"`
		ScannedAt     time.Time    `json:"scannedAt"`
		Packages      []db.Package `json:"packages"`
	}{j.ID, j.Image, j.Digest, inv.DistroID, inv.DistroVersion, inv.ScannedAt, pkgs})
}

// apiActivate pins a succeeded revision as the spec's active one ({"job":
// ID}), or goes back to the latest succeeded one ({"job": 0}).
func (h *handler) apiActivate(c *fiber.Ctx) error {
	name := utils.CopyString(c.Params("name"))
	var in struct {
		Job *int64 `json:"job"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if in.Job == nil || *in.Job < 0 {
		return fiber.NewError(fiber.StatusBadRequest, locOf(c).T("api.badnumber", "job", ""))
	}
	if err := h.Queue.Activate(c.UserContext(), name, *in.Job); err != nil {
		return err
	}
	s, err := h.apiSpec(c, name)
	if err != nil {
		return err
	}
	return c.JSON(s)
}

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

// apiHousekeeping runs retention and garbage collection now and answers
// what the run did.
func (h *handler) apiHousekeeping(c *fiber.Ctx) error {
	if h.Housekeeping == nil {
		return fiber.ErrNotFound
	}
	run, err := h.Housekeeping.Run(c.UserContext(), housekeeping.TriggerButton)
	if err != nil && run.StartedAt.IsZero() {
		return err
	}
	return c.JSON(struct {
		StartedAt     time.Time `json:"startedAt"`
		FinishedAt    time.Time `json:"finishedAt"`
		JobsDeleted   int       `json:"jobsDeleted"`
		LogsDeleted   int       `json:"logsDeleted"`
		TagsDeleted   int       `json:"tagsDeleted"`
		BlobsDeleted  int       `json:"blobsDeleted"`
		RegistryFreed int64     `json:"registryFreed"`
		LogsFreed     int64     `json:"logsFreed"`
		StorageFreed  int64     `json:"storageFreed"`
		Error         string    `json:"error,omitempty"`
	}{run.StartedAt, run.Finished, run.JobsDeleted, run.LogsDeleted, run.TagsDeleted, run.BlobsDeleted, run.RegistryFreed, run.LogsFreed, run.StorageFreed, strings.TrimSpace(run.Error)})
}
