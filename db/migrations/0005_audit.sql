-- Who asked for each build and who cancelled it, and an audit trail of
-- administrators' actions on specs and jobs. Audit rows keep names, not
-- references, so they outlive the specs and jobs they are about.
ALTER TABLE jobs ADD COLUMN requested_by TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN cancelled_by TEXT NOT NULL DEFAULT '';
CREATE TABLE audit_events (
    id       INTEGER PRIMARY KEY,
    at       INTEGER NOT NULL,
    actor    TEXT    NOT NULL,
    action   TEXT    NOT NULL CHECK (action IN ('create','edit','cancel','retry','rebuild','delete')),
    spec     TEXT    NOT NULL,
    job_id   INTEGER NOT NULL DEFAULT 0,
    revision INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX audit_spec ON audit_events (spec, id);
