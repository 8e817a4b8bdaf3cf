-- Each spec has an active revision: the job an administrator pinned
-- (active_job, a rollback is pinning an older one), or, while it is 0, the
-- latest succeeded one. alias_tag keeps <name>:active in the registry on
-- the active revision's image; alias_digest is where it was last put.
ALTER TABLE specs ADD COLUMN active_job INTEGER NOT NULL DEFAULT 0;
ALTER TABLE specs ADD COLUMN alias_tag INTEGER NOT NULL DEFAULT 0;
ALTER TABLE specs ADD COLUMN alias_digest TEXT NOT NULL DEFAULT '';
-- Choosing the active revision is an audited action: the audit table's
-- CHECK takes it (SQLite cannot change a CHECK, so the table is rebuilt).
CREATE TABLE audit_events_new (
    id       INTEGER PRIMARY KEY,
    at       INTEGER NOT NULL,
    actor    TEXT    NOT NULL,
    action   TEXT    NOT NULL CHECK (action IN ('create','edit','cancel','retry','rebuild','delete','activate')),
    spec     TEXT    NOT NULL,
    job_id   INTEGER NOT NULL DEFAULT 0,
    revision INTEGER NOT NULL DEFAULT 0
);
INSERT INTO audit_events_new (id, at, actor, action, spec, job_id, revision)
    SELECT id, at, actor, action, spec, job_id, revision FROM audit_events;
DROP TABLE audit_events;
ALTER TABLE audit_events_new RENAME TO audit_events;
CREATE INDEX audit_spec ON audit_events (spec, id);
