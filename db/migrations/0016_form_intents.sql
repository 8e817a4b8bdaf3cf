-- One build per intent: each spec form carries a one-time key, and the
-- save it made is kept here for a day, so a double-click or Back and
-- Confirm again finds the first save instead of making a second revision.
-- version is the spec's content version after that save.
CREATE TABLE form_intents (
    token      TEXT    PRIMARY KEY,
    spec       TEXT    NOT NULL,
    job_id     INTEGER NOT NULL DEFAULT 0,
    version    TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX form_intents_age ON form_intents (created_at);
