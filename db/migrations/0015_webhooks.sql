-- Webhook endpoints (the secret sealed like pull secrets, write-only) and
-- their deliveries: one row per event and endpoint, retried with backoff
-- until delivered or given up, with the last attempt's answer.
CREATE TABLE webhooks (
    id         INTEGER PRIMARY KEY,
    url        TEXT    NOT NULL,
    sealed     BLOB    NOT NULL,
    events     TEXT    NOT NULL,              -- comma-separated: job.succeeded,job.failed,job.cancelled
    created_by TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE webhook_deliveries (
    id           INTEGER PRIMARY KEY,
    webhook_id   INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event        TEXT    NOT NULL,
    job_id       INTEGER NOT NULL,
    payload      TEXT    NOT NULL,
    state        TEXT    NOT NULL CHECK (state IN ('pending','delivered','failed')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    status_code  INTEGER NOT NULL DEFAULT 0,
    duration_ms  INTEGER NOT NULL DEFAULT 0,
    error        TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    next_at      INTEGER NOT NULL,
    last_at      INTEGER
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_at);
