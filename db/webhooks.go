package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Webhook events.
const (
	EventJobSucceeded = "job.succeeded"
	EventJobFailed    = "job.failed"
	EventJobCancelled = "job.cancelled"
)

// WebhookEvents are every event an endpoint can take.
var WebhookEvents = []string{EventJobSucceeded, EventJobFailed, EventJobCancelled}

// Webhook is an endpoint that hears of events; Sealed is its secret,
// encrypted.
type Webhook struct {
	ID        int64
	URL       string
	Sealed    []byte
	Events    []string
	CreatedBy string
	CreatedAt time.Time
}

// Delivery states.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// Delivery is one event sent (or to send) to one endpoint, with its last
// attempt's answer.
type Delivery struct {
	ID         int64
	WebhookID  int64
	URL        string
	Event      string
	JobID      int64
	Payload    string
	State      string
	Attempts   int
	StatusCode int
	Duration   time.Duration
	Error      string
	CreatedAt  time.Time
	NextAt     time.Time
	LastAt     time.Time
}

// CreateWebhook stores an endpoint.
func (d *DB) CreateWebhook(ctx context.Context, w Webhook) (Webhook, error) {
	now := d.now()
	res, err := d.execAudited(ctx, AuditEvent{Action: ActionWebhookAdd, Target: w.URL, Detail: Describe("events: %s", strings.Join(w.Events, ", "))},
		`INSERT INTO webhooks (url, sealed, events, created_by, created_at) VALUES (?, ?, ?, ?, ?)`,
		w.URL, w.Sealed, strings.Join(w.Events, ","), w.CreatedBy, ms(now))
	if err != nil {
		return Webhook{}, fmt.Errorf("create webhook: %w", err)
	}
	w.ID, _ = res.LastInsertId()
	w.CreatedAt = time.UnixMilli(ms(now))
	return w, nil
}

// ListWebhooks returns every endpoint, oldest first.
func (d *DB) ListWebhooks(ctx context.Context) ([]Webhook, error) {
	rows, err := d.read.QueryContext(ctx, `SELECT id, url, sealed, events, created_by, created_at FROM webhooks ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	defer rows.Close()
	var out []Webhook
	for rows.Next() {
		var w Webhook
		var events string
		var created int64
		if err := rows.Scan(&w.ID, &w.URL, &w.Sealed, &events, &w.CreatedBy, &created); err != nil {
			return nil, fmt.Errorf("list webhooks: %w", err)
		}
		w.Events, w.CreatedAt = strings.Split(events, ","), time.UnixMilli(created)
		out = append(out, w)
	}
	return out, rows.Err()
}

// DeleteWebhook removes an endpoint and its deliveries.
func (d *DB) DeleteWebhook(ctx context.Context, id int64) error {
	var url string
	if err := d.read.QueryRowContext(ctx, `SELECT url FROM webhooks WHERE id = ?`, id).Scan(&url); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("delete webhook %d: %w", id, err)
	}
	res, err := d.execAudited(ctx, AuditEvent{Action: ActionWebhookDelete, Target: url}, `DELETE FROM webhooks WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete webhook %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("webhook %d does not exist", id)
	}
	return nil // its deliveries go with it (ON DELETE CASCADE)
}

// JobEndPayload is what the deliveries of a job's end carry: its event and
// body, or ok false for none. The webhooks package gives it (SetJobEndPayload),
// so that a job's end and its deliveries are written in one transaction: a
// crash between the two can lose neither.
type JobEndPayload func(Job) (event, payload string, ok bool)

// SetJobEndPayload has every transaction that ends a job also record one
// pending delivery per endpoint that takes the job's event.
func (d *DB) SetJobEndPayload(f JobEndPayload) {
	if f != nil {
		d.jobEnd.Store(&f)
	}
}

// enqueueJobEnd records, in tx, the deliveries of the end of job j.
func (d *DB) enqueueJobEnd(ctx context.Context, tx *sql.Tx, j Job) error {
	f := d.jobEnd.Load()
	if f == nil || !j.Status.Finished() {
		return nil
	}
	event, payload, ok := (*f)(j)
	if !ok {
		return nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, events FROM webhooks ORDER BY id`)
	if err != nil {
		return fmt.Errorf("record the deliveries of job %d: %w", j.ID, err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		var events string
		if err := rows.Scan(&id, &events); err != nil {
			rows.Close()
			return fmt.Errorf("record the deliveries of job %d: %w", j.ID, err)
		}
		if contains(strings.Split(events, ","), event) {
			ids = append(ids, id)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("record the deliveries of job %d: %w", j.ID, err)
	}
	now := ms(d.now())
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, insertDeliverySQL, id, event, j.ID, payload, now, now); err != nil {
			return fmt.Errorf("record a %s delivery of job %d: %w", event, j.ID, err)
		}
	}
	return nil
}

const insertDeliverySQL = `INSERT INTO webhook_deliveries (webhook_id, event, job_id, payload, state, created_at, next_at) VALUES (?, ?, ?, ?, 'pending', ?, ?)`

// insertDelivery records a pending delivery with the administrator's
// action that asked for it.
func (d *DB) insertDelivery(ctx context.Context, webhookID int64, event string, jobID int64, payload string, audit AuditEvent) (int64, error) {
	now := ms(d.now())
	res, err := d.execAudited(ctx, audit, insertDeliverySQL, webhookID, event, jobID, payload, now, now)
	if err != nil {
		return 0, fmt.Errorf("record a %s delivery: %w", event, err)
	}
	return res.LastInsertId()
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

const deliveryColumns = `d.id, d.webhook_id, w.url, d.event, d.job_id, d.payload, d.state, d.attempts, d.status_code, d.duration_ms, d.error, d.created_at, d.next_at, d.last_at`

func scanDelivery(r scanner) (Delivery, error) {
	var x Delivery
	var dur, created, next int64
	var last sql.NullInt64
	if err := r.Scan(&x.ID, &x.WebhookID, &x.URL, &x.Event, &x.JobID, &x.Payload, &x.State, &x.Attempts, &x.StatusCode, &dur, &x.Error, &created, &next, &last); err != nil {
		return Delivery{}, err
	}
	x.Duration, x.CreatedAt, x.NextAt, x.LastAt = time.Duration(dur)*time.Millisecond, time.UnixMilli(created), time.UnixMilli(next), fromMS(last)
	return x, nil
}

func (d *DB) queryDeliveries(ctx context.Context, q string, args ...any) ([]Delivery, error) {
	rows, err := d.read.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id `+q, args...)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		x, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("list deliveries: %w", err)
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

// DueDeliveries are the pending deliveries due at now, oldest first.
func (d *DB) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]Delivery, error) {
	return d.queryDeliveries(ctx, `WHERE d.state = 'pending' AND d.next_at <= ? ORDER BY d.next_at, d.id LIMIT ?`, ms(now), limit)
}

// NextDeliveryAt is when the next pending delivery is due (ok false: none).
func (d *DB) NextDeliveryAt(ctx context.Context) (time.Time, bool, error) {
	var next sql.NullInt64
	if err := d.read.QueryRowContext(ctx, `SELECT MIN(next_at) FROM webhook_deliveries WHERE state = 'pending'`).Scan(&next); err != nil {
		return time.Time{}, false, err
	}
	return fromMS(next), next.Valid, nil
}

// RecentDeliveries are the newest deliveries first.
func (d *DB) RecentDeliveries(ctx context.Context, limit int) ([]Delivery, error) {
	return d.queryDeliveries(ctx, `ORDER BY d.id DESC LIMIT ?`, limit)
}

// GetDelivery is one delivery.
func (d *DB) GetDelivery(ctx context.Context, id int64) (Delivery, error) {
	all, err := d.queryDeliveries(ctx, `WHERE d.id = ?`, id)
	if err != nil {
		return Delivery{}, err
	}
	if len(all) == 0 {
		return Delivery{}, notFound("delivery %d does not exist", id)
	}
	return all[0], nil
}

// RecordAttempt records an attempt's answer: state is the delivery's new
// state, next when a pending one is tried again.
func (d *DB) RecordAttempt(ctx context.Context, id int64, state string, status int, took time.Duration, errText string, next time.Time) error {
	_, err := d.write.ExecContext(ctx, `UPDATE webhook_deliveries SET state = ?, attempts = attempts + 1, status_code = ?, duration_ms = ?, error = ?, next_at = ?, last_at = ? WHERE id = ?`,
		state, status, took.Milliseconds(), errText, ms(next), ms(d.now()), id)
	if err != nil {
		return fmt.Errorf("record delivery %d: %w", id, err)
	}
	return nil
}

// LeaseDelivery makes a pending delivery due again only at until, while
// an attempt runs (so it is not sent twice, and is tried again after a
// crash).
func (d *DB) LeaseDelivery(ctx context.Context, id int64, until time.Time) error {
	_, err := d.write.ExecContext(ctx, `UPDATE webhook_deliveries SET next_at = ? WHERE id = ? AND state = 'pending'`, ms(until), id)
	return err
}

// Redeliver records a new pending delivery of what delivery id sent.
func (d *DB) Redeliver(ctx context.Context, id int64) (int64, error) {
	old, err := d.GetDelivery(ctx, id)
	if err != nil {
		return 0, err
	}
	return d.insertDelivery(ctx, old.WebhookID, old.Event, old.JobID, old.Payload,
		AuditEvent{Action: ActionRedeliver, Target: old.URL, Detail: Describe("%s of job %s (delivery %s)", old.Event, old.JobID, old.ID)})
}
