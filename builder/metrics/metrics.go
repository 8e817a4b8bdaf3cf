// Package metrics owns the builder's Prometheus metrics: builds by outcome
// and reason, build and queue-wait durations, queue depth, running builds
// and pushed bytes, log bytes and webhook deliveries, plus the Go
// runtime's and the process's. It hears of builds from the queue's hooks
// (Started, Finished) and reads the queue depth from the store when
// scraped. Serving them over HTTP is the caller's (main).
package metrics

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"imagebuilder/db"
)

// Metrics is one registry of the builder's metrics.
type Metrics struct {
	reg      *prometheus.Registry
	builds   *prometheus.CounterVec
	duration *prometheus.HistogramVec
	wait     prometheus.Histogram
	pushed   prometheus.Counter
	webhooks *prometheus.CounterVec
}

// Buckets of build durations, in seconds: from a cached no-op build to
// the default one-hour timeout.
var buildBuckets = []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 3600}

// New registers the metrics. pending counts the jobs waiting and running
// the builds that run, both read at each scrape.
// logBytes measures the job logs, read at each scrape (nil: not
// exported).
func New(store *db.DB, running func() int, logBytes func() int64) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		builds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "imagebuilder_builds_total",
			Help: "Builds that ended, by outcome (succeeded, failed, cancelled) and reason code (\"\" for none).",
		}, []string{"outcome", "reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "imagebuilder_build_duration_seconds",
			Help:    "How long builds ran, from start to end, by outcome.",
			Buckets: buildBuckets,
		}, []string{"outcome"}),
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "imagebuilder_queue_wait_seconds",
			Help:    "How long jobs waited in the queue before their build started.",
			Buckets: []float64{0.1, 0.5, 1, 5, 15, 60, 300, 1800},
		}),
		pushed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "imagebuilder_pushed_bytes_total",
			Help: "Compressed bytes of the images builds pushed.",
		}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "imagebuilder_webhook_deliveries_total",
			Help: "Webhook delivery attempts, by result (delivered; retry: failed, tried again later; failed: given up).",
		}, []string{"result"}),
	}
	depth := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "imagebuilder_queue_depth",
		Help: "Jobs waiting to be built.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		jobs, err := store.JobsWithStatus(ctx, db.StatusPending)
		if err != nil {
			return -1
		}
		return float64(len(jobs))
	})
	runningGauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "imagebuilder_builds_running",
		Help: "Builds running now.",
	}, func() float64 { return float64(running()) })
	m.reg.MustRegister(m.builds, m.duration, m.wait, m.pushed, m.webhooks, depth, runningGauge,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if logBytes != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "imagebuilder_log_bytes",
			Help: "Bytes the job logs take on disk.",
		}, func() float64 { return float64(logBytes()) }))
	}
	return m
}

// Started records how long the job waited.
func (m *Metrics) Started(job db.Job) {
	if !job.QueuedAt.IsZero() && !job.StartedAt.IsZero() {
		m.wait.Observe(job.StartedAt.Sub(job.QueuedAt).Seconds())
	}
}

// Finished records how a build ended.
func (m *Metrics) Finished(job db.Job, out db.JobOutcome) {
	m.builds.WithLabelValues(string(out.Status), string(out.Failure.Code())).Inc()
	if !job.StartedAt.IsZero() {
		m.duration.WithLabelValues(string(out.Status)).Observe(time.Since(job.StartedAt).Seconds())
	}
	if out.Status == db.StatusSucceeded && out.Size > 0 {
		m.pushed.Add(float64(out.Size))
	}
}

// WebhookAttempt counts one webhook delivery attempt by result.
func (m *Metrics) WebhookAttempt(result string) { m.webhooks.WithLabelValues(result).Inc() }

// Gatherer is the registry to serve (promhttp.HandlerFor).
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// ServeOn serves the metrics at http://addr/metrics on a listener of their
// own, without a token (the portal's /metrics takes one); stop closes it.
func (m *Metrics) ServeOn(addr string, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.Gatherer(), promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("serving metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return func() { _ = srv.Close() }, nil
}
