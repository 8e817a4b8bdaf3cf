-- Retention: how many succeeded and failed or cancelled jobs a spec keeps
-- and for how many days their logs stay (NULL: the global default, kept
-- in settings), jobs whose log was removed by retention, and a record of
-- every housekeeping run (retention and garbage collection).
ALTER TABLE specs ADD COLUMN keep_succeeded INTEGER;
ALTER TABLE specs ADD COLUMN keep_failed INTEGER;
ALTER TABLE specs ADD COLUMN log_days INTEGER;
ALTER TABLE jobs ADD COLUMN log_removed INTEGER NOT NULL DEFAULT 0;
CREATE TABLE housekeeping_runs (
    id             INTEGER PRIMARY KEY,
    started_at     INTEGER NOT NULL,
    finished_at    INTEGER NOT NULL,
    trigger        TEXT    NOT NULL,            -- schedule, button
    jobs_deleted   INTEGER NOT NULL DEFAULT 0,
    logs_deleted   INTEGER NOT NULL DEFAULT 0,
    tags_deleted   INTEGER NOT NULL DEFAULT 0,
    blobs_deleted  INTEGER NOT NULL DEFAULT 0,
    registry_freed INTEGER NOT NULL DEFAULT 0,  -- bytes
    logs_freed     INTEGER NOT NULL DEFAULT 0,  -- bytes
    error          TEXT    NOT NULL DEFAULT ''
);
