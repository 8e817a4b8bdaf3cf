-- Image specs: what administrators define.
CREATE TABLE specs (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    base_image  TEXT    NOT NULL,
    pull_secret TEXT    NOT NULL DEFAULT '',
    apt         TEXT    NOT NULL DEFAULT '[]', -- JSON array of lines
    conda       TEXT    NOT NULL DEFAULT '[]',
    pip         TEXT    NOT NULL DEFAULT '[]',
    created_at  INTEGER NOT NULL,              -- unix milliseconds
    updated_at  INTEGER NOT NULL
);

-- Build jobs: one per confirmed create or edit (or retry). The jobs table is
-- the queue: Pending rows are taken oldest first.
CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY,
    spec_id     INTEGER NOT NULL REFERENCES specs(id) ON DELETE CASCADE,
    revision    INTEGER NOT NULL,
    snapshot    TEXT    NOT NULL,              -- JSON ImageSpec as built
    status      TEXT    NOT NULL CHECK (status IN ('pending','building','succeeded','failed','cancelled')),
    registry    TEXT    NOT NULL DEFAULT '',   -- where it pushes
    image       TEXT    NOT NULL DEFAULT '',
    digest      TEXT    NOT NULL DEFAULT '',
    size        INTEGER NOT NULL DEFAULT 0,
    error       TEXT    NOT NULL DEFAULT '',
    retry_of    INTEGER,
    queued_at   INTEGER NOT NULL,
    started_at  INTEGER,
    finished_at INTEGER,
    updated_at  INTEGER NOT NULL,
    UNIQUE (spec_id, revision)
);
CREATE INDEX jobs_queue ON jobs (status, id);
CREATE INDEX jobs_spec_latest ON jobs (spec_id, id);
CREATE INDEX jobs_spec_status ON jobs (spec_id, status, id);

-- Settings: key/value, values JSON or text.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
