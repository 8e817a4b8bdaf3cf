// Package webhooks tells other systems how builds ended. The transaction
// that ends a job also records one delivery per endpoint that takes the
// event (a row in the store, so nothing is lost across a crash or a
// restart; the payload is this package's, see db.SetJobEndPayload), and
// the build goes on at once: a slow or dead endpoint never holds it up. A sender apart posts each
// delivery as JSON signed with HMAC-SHA256 over the timestamp and the body
// (X-Imagebuilder-Signature), retries with exponential backoff for a
// bounded time, and records every attempt's status code and duration. It
// knows nothing of the portal.
package webhooks

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"imagebuilder/builder/message"
	"imagebuilder/builder/registry"
	"imagebuilder/builder/spec"
	"imagebuilder/db"
	"imagebuilder/db/failure"
)

// Headers of every delivery.
const (
	HeaderEvent     = "X-Imagebuilder-Event"
	HeaderDelivery  = "X-Imagebuilder-Delivery"
	HeaderTimestamp = "X-Imagebuilder-Timestamp"
	HeaderSignature = "X-Imagebuilder-Signature"
)

// How an attempt failed, as recorded, besides the endpoint's own status
// ("answered 503 Service Unavailable") and the system's network errors.
const (
	ErrNoAnswer       = "no answer within"
	ErrRefusedAddress = "refused: a link-local or cloud metadata address"
)

// Results of an attempt, for metrics.
const (
	ResultDelivered = "delivered"
	ResultRetry     = "retry"
	ResultFailed    = "failed"
)

// Sealer keeps endpoint secrets encrypted at rest.
type Sealer interface {
	Seal(plain []byte) ([]byte, error)
	Open(sealed []byte) ([]byte, error)
}

// Config is what the dispatcher works with; zero durations take the
// defaults.
type Config struct {
	DB  *db.DB
	Box Sealer
	Log *slog.Logger
	// Timeout bounds one attempt (10 s).
	Timeout time.Duration
	// FirstRetry is the first wait after a failed attempt, doubling up
	// to MaxRetry (5 s, 10 min); after GiveUpAfter (24 h) a delivery
	// that never succeeded is failed.
	FirstRetry, MaxRetry, GiveUpAfter time.Duration
	// Workers is how many deliveries are sent at once (4).
	Workers int
	// AllowLinkLocal lets endpoints be link-local or cloud metadata
	// addresses (--registry-allow-link-local).
	AllowLinkLocal bool
	// Observe hears each attempt's result (metrics); nil: none.
	Observe func(result string)
}

// Dispatcher records and sends deliveries.
type Dispatcher struct {
	cfg    Config
	client *http.Client
	wake   chan struct{}

	mu       sync.Mutex
	inflight map[int64]bool
}

// New is a dispatcher; Run sends. From now on the store records the
// deliveries of every job's end.
func New(cfg Config) *Dispatcher {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.FirstRetry <= 0 {
		cfg.FirstRetry = 5 * time.Second
	}
	if cfg.MaxRetry <= 0 {
		cfg.MaxRetry = 10 * time.Minute
	}
	if cfg.GiveUpAfter <= 0 {
		cfg.GiveUpAfter = 24 * time.Hour
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	tr := &http.Transport{DialContext: registry.GuardedDialer(cfg.Timeout, cfg.AllowLinkLocal).DialContext, Proxy: nil,
		MaxIdleConnsPerHost: 2, IdleConnTimeout: time.Minute}
	d := &Dispatcher{cfg: cfg, wake: make(chan struct{}, 1), inflight: map[int64]bool{},
		client: &http.Client{Transport: tr, Timeout: cfg.Timeout,
			// A redirect is an answer, not a place to send the secret's
			// signature to.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	cfg.DB.SetJobEndPayload(d.payloadOf)
	return d
}

// Payload is a delivery's body.
type Payload struct {
	Event string `json:"event"`
	Job   Job    `json:"job"`
}

// Job is the job a delivery is about.
type Job struct {
	ID       int64  `json:"id"`
	Spec     string `json:"spec"`
	Revision int    `json:"revision"`
	Status   string `json:"status"`
	Image    string `json:"image,omitempty"`
	Digest   string `json:"digest,omitempty"`
	// Reason and Error are Failure's code and English message, kept for
	// receivers written before Failure.
	Reason string `json:"reason,omitempty"`
	Error  string `json:"error,omitempty"`
	// Failure says why the job failed or was cancelled: its reason code,
	// the code's arguments and the tool's lines.
	Failure    *failure.Failure `json:"failure,omitempty"`
	QueuedAt   time.Time        `json:"queuedAt"`
	StartedAt  *time.Time       `json:"startedAt,omitempty"`
	FinishedAt *time.Time       `json:"finishedAt,omitempty"`
}

// EventOf is the event of a finished job ("" for an unfinished one).
func EventOf(s db.Status) string {
	switch s {
	case db.StatusSucceeded:
		return db.EventJobSucceeded
	case db.StatusFailed:
		return db.EventJobFailed
	case db.StatusCancelled:
		return db.EventJobCancelled
	}
	return ""
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// payloadOf is the event and body of the deliveries of job j's end; the
// store records them in the transaction that ends the job.
func (d *Dispatcher) payloadOf(j db.Job) (event, payload string, ok bool) {
	event = EventOf(j.Status)
	if event == "" {
		return "", "", false
	}
	body, err := json.Marshal(Payload{Event: event, Job: Job{ID: j.ID, Spec: j.SpecName, Revision: j.Revision, Status: string(j.Status),
		Image: j.Image, Digest: j.Digest, Reason: string(j.Failure.Code()), Error: j.Failure.Text(), Failure: j.Failure, QueuedAt: j.QueuedAt,
		StartedAt: timePtr(j.StartedAt), FinishedAt: timePtr(j.FinishedAt)}})
	if err != nil { // a Payload always marshals
		d.cfg.Log.Error("webhook payload", "job", j.ID, "err", err)
		return "", "", false
	}
	return event, string(body), true
}

// JobFinished wakes the sender for the deliveries of a job's end, which
// the store recorded with it.
func (d *Dispatcher) JobFinished(j db.Job) {
	if EventOf(j.Status) != "" {
		d.Wake()
	}
}

// Wake makes the sender look for due deliveries now.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Redeliver sends what delivery id sent again, as a new delivery.
func (d *Dispatcher) Redeliver(ctx context.Context, id int64) (int64, error) {
	nid, err := d.cfg.DB.Redeliver(ctx, id)
	if err == nil {
		d.Wake()
	}
	return nid, err
}

// Run sends due deliveries until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) {
	sem := make(chan struct{}, d.cfg.Workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		due, err := d.cfg.DB.DueDeliveries(ctx, time.Now(), 50)
		if err != nil && ctx.Err() == nil {
			d.cfg.Log.Error("webhook deliveries", "err", err)
		}
		for _, x := range due {
			d.mu.Lock()
			busy := d.inflight[x.ID]
			d.inflight[x.ID] = true
			d.mu.Unlock()
			if busy {
				continue
			}
			// Not due again while this attempt runs, nor twice after a
			// crash in the middle of it.
			if err := d.cfg.DB.LeaseDelivery(ctx, x.ID, time.Now().Add(2*d.cfg.Timeout+time.Second)); err != nil {
				d.done(x.ID)
				continue
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				d.done(x.ID)
				return
			}
			wg.Add(1)
			go func(x db.Delivery) {
				defer wg.Done()
				defer func() { <-sem }()
				defer d.done(x.ID)
				d.attempt(ctx, x)
			}(x)
		}
		wait := time.Minute
		if next, ok, err := d.cfg.DB.NextDeliveryAt(ctx); err == nil && ok {
			wait = min(max(time.Until(next), 20*time.Millisecond), time.Minute)
		}
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-time.After(wait):
		}
	}
}

func (d *Dispatcher) done(id int64) {
	d.mu.Lock()
	delete(d.inflight, id)
	d.mu.Unlock()
}

// Sign is a delivery's signature: "sha256=" and the hex HMAC-SHA256, under
// the endpoint's secret, of the timestamp, a dot and the body.
func Sign(secret []byte, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	fmt.Fprintf(mac, "%d.", timestamp)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify is what a receiver does: the signature matches, and the
// timestamp is within tolerance of now (so a captured delivery cannot be
// replayed later).
func Verify(secret []byte, timestamp, signature string, body []byte, tolerance time.Duration, now time.Time) error {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return errors.New("no timestamp")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return errors.New("timestamp outside the tolerance: a replay?")
	}
	if !hmac.Equal([]byte(Sign(secret, ts, body)), []byte(signature)) {
		return errors.New("signature does not match")
	}
	return nil
}

// attempt posts one delivery and records the answer.
func (d *Dispatcher) attempt(ctx context.Context, x db.Delivery) {
	ctx = context.WithoutCancel(ctx) // record the attempt even while shutting down
	took, status, errText, retryAfter := d.post(ctx, x)
	next := time.Now()
	result := ResultDelivered
	newState := db.DeliveryDelivered
	if errText != "" {
		backoff := d.cfg.FirstRetry << min(x.Attempts, 20)
		backoff = min(max(backoff, retryAfter), d.cfg.MaxRetry)
		next = time.Now().Add(backoff)
		newState, result = db.DeliveryPending, ResultRetry
		if next.Sub(x.CreatedAt) > d.cfg.GiveUpAfter {
			newState, result = db.DeliveryFailed, ResultFailed
		}
	}
	if err := d.cfg.DB.RecordAttempt(ctx, x.ID, newState, status, took, errText, next); err != nil {
		d.cfg.Log.Error("webhook delivery not recorded", "delivery", x.ID, "err", err)
	}
	if d.cfg.Observe != nil {
		d.cfg.Observe(result)
	}
	if newState == db.DeliveryPending {
		d.Wake() // the lease kept it from being due; its retry may be sooner
	}
	d.cfg.Log.Info("webhook delivery", "delivery", x.ID, "webhook", x.WebhookID, "event", x.Event, "job", x.JobID,
		"status", status, "duration", took, "result", result, "err", errText)
}

// post sends one delivery: how long the endpoint took, its status, why
// the attempt failed ("" when it did not) and the Retry-After it asked for.
func (d *Dispatcher) post(ctx context.Context, x db.Delivery) (took time.Duration, status int, errText string, retryAfter time.Duration) {
	secret, err := d.secretOf(ctx, x.WebhookID)
	if err != nil {
		return took, 0, err.Error(), 0
	}
	ts := time.Now().Unix()
	body := []byte(x.Payload)
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, x.URL, bytes.NewReader(body))
	if err != nil {
		return took, 0, err.Error(), 0
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "imagebuilder-webhooks/1")
	req.Header.Set(HeaderEvent, x.Event)
	req.Header.Set(HeaderDelivery, strconv.FormatInt(x.ID, 10))
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(secret, ts, body))
	start := time.Now()
	resp, err := d.client.Do(req)
	took = time.Since(start)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is on the page already
		}
		if errors.Is(err, registry.ErrForbiddenAddress) {
			return took, 0, ErrRefusedAddress, 0
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return took, 0, fmt.Sprintf("%s %s", ErrNoAnswer, d.cfg.Timeout), 0
		}
		return took, 0, err.Error(), 0
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			retryAfter = time.Duration(s) * time.Second
		}
		return took, resp.StatusCode, fmt.Sprintf("answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode)), retryAfter
	}
	return took, resp.StatusCode, "", 0
}

func (d *Dispatcher) secretOf(ctx context.Context, webhookID int64) ([]byte, error) {
	hooks, err := d.cfg.DB.ListWebhooks(ctx)
	if err != nil {
		return nil, err
	}
	for _, w := range hooks {
		if w.ID == webhookID {
			return d.cfg.Box.Open(w.Sealed)
		}
	}
	return nil, errors.New("the endpoint was deleted")
}

// Fields of the endpoint form.
const (
	FieldURL    = "url"
	FieldSecret = "secret"
	FieldEvents = "events"
)

func msgf(format string, args ...any) message.Message { return message.New(format, args...) }

// Add validates and stores an endpoint; every problem is named by field.
func (d *Dispatcher) Add(ctx context.Context, rawURL, secret string, events []string, by string) (db.Webhook, error) {
	var errs spec.ValidationError
	rawURL = strings.TrimSpace(rawURL)
	u, err := url.Parse(rawURL)
	switch {
	case rawURL == "":
		errs = append(errs, spec.FieldError{Field: FieldURL, Message: msgf("the URL is required, e.g. https://chat.example.com/hooks/builds")})
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(rawURL) > 2000:
		errs = append(errs, spec.FieldError{Field: FieldURL, Message: msgf("%q is not an http or https URL", rawURL)})
	case u.User != nil:
		errs = append(errs, spec.FieldError{Field: FieldURL, Message: msgf("put no user name or password in the URL: the secret signs every delivery")})
	}
	if len(secret) < 16 {
		errs = append(errs, spec.FieldError{Field: FieldSecret, Message: msgf("the secret needs at least 16 characters")})
	}
	if len(events) == 0 {
		errs = append(errs, spec.FieldError{Field: FieldEvents, Message: msgf("choose at least one event")})
	}
	for _, e := range events {
		if !slices.Contains(db.WebhookEvents, e) {
			errs = append(errs, spec.FieldError{Field: FieldEvents, Message: msgf("%q is not an event", e)})
		}
	}
	if len(errs) > 0 {
		return db.Webhook{}, errs
	}
	sealed, err := d.cfg.Box.Seal([]byte(secret))
	if err != nil {
		return db.Webhook{}, err
	}
	return d.cfg.DB.CreateWebhook(ctx, db.Webhook{URL: u.String(), Sealed: sealed, Events: events, CreatedBy: by})
}
