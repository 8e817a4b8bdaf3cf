-- What is inside every succeeded revision's image: its installed packages,
-- read after the push (or copied from the revision whose image it reused),
-- and how they differ from the previous succeeded revision's.
-- base_digest is the digest the base image had when the job started.
ALTER TABLE jobs ADD COLUMN base_digest TEXT NOT NULL DEFAULT '';
CREATE TABLE inventories (
    job_id         INTEGER PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
    ok             INTEGER NOT NULL,            -- 0: the scan failed, error says why
    error          TEXT    NOT NULL DEFAULT '',
    distro_id      TEXT    NOT NULL DEFAULT '',
    distro_version TEXT    NOT NULL DEFAULT '',
    scanned_at     INTEGER NOT NULL,            -- unix milliseconds
    duration_ms    INTEGER NOT NULL DEFAULT 0,
    copied_from    INTEGER NOT NULL DEFAULT 0,  -- the job whose inventory was copied (a reused image)
    against_job    INTEGER NOT NULL DEFAULT 0,  -- the previous succeeded revision compared with (0: none)
    added          INTEGER NOT NULL DEFAULT 0,
    removed        INTEGER NOT NULL DEFAULT 0,
    changed        INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE inventory_packages (
    job_id   INTEGER NOT NULL REFERENCES inventories(job_id) ON DELETE CASCADE,
    type     TEXT    NOT NULL,                  -- deb, python, conda
    name     TEXT    NOT NULL,
    version  TEXT    NOT NULL,
    arch     TEXT    NOT NULL DEFAULT '',
    build    TEXT    NOT NULL DEFAULT '',
    channel  TEXT    NOT NULL DEFAULT '',
    location TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX inventory_packages_job ON inventory_packages (job_id);
