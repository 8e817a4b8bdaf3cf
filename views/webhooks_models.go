package views

import (
	"time"
)

// The webhooks page's model.

// WebhooksPage lists webhook endpoints, adds one and shows the latest
// deliveries.
type WebhooksPage struct {
	Layout
	Hooks      []WebhookRow
	Deliveries []DeliveryRow
	Form       WebhookForm
	AllEvents  []string
	Notice     string
}

// WebhookRow is one endpoint (never its secret).
type WebhookRow struct {
	ID        int64
	URL       string
	Events    []string
	CreatedBy string
	CreatedAt time.Time
}

// WebhookForm is an endpoint being added: the secret is never shown again.
type WebhookForm struct {
	URL    string
	Events []string
	Errors map[string][]string
}

// DeliveryRow is one delivery with its last attempt.
type DeliveryRow struct {
	ID, JobID int64
	// Spec and Revision are what the job built.
	Spec                      string
	Revision                  int
	URL, Event, State         string
	Attempts, StatusCode      int
	Duration, Error           string
	CreatedAt, LastAt, NextAt time.Time
}
