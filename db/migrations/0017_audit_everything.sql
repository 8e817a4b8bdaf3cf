-- Every change an administrator makes is audited, not only those to specs
-- and jobs: pull secrets, the registry, build settings, webhooks, API
-- tokens, sessions, retention, the schedule, housekeeping. target names
-- what was changed when it is not a spec (a secret's name, a webhook's
-- URL, a setting) and detail what changed (never a secret value): an
-- English format with its arguments (detail_args, JSON), so a page can
-- say it in its language. The action list lives in the code (db.Action*),
-- so the CHECK goes.
CREATE TABLE audit_events_new (
    id       INTEGER PRIMARY KEY,
    at       INTEGER NOT NULL,
    actor    TEXT    NOT NULL,
    action   TEXT    NOT NULL,
    spec     TEXT    NOT NULL DEFAULT '',
    job_id   INTEGER NOT NULL DEFAULT 0,
    revision INTEGER NOT NULL DEFAULT 0,
    target   TEXT    NOT NULL DEFAULT '',
    detail   TEXT    NOT NULL DEFAULT '',
    detail_args TEXT NOT NULL DEFAULT '[]'
);
INSERT INTO audit_events_new (id, at, actor, action, spec, job_id, revision)
    SELECT id, at, actor, action, spec, job_id, revision FROM audit_events;
DROP TABLE audit_events;
ALTER TABLE audit_events_new RENAME TO audit_events;
CREATE INDEX audit_spec ON audit_events (spec, id);
