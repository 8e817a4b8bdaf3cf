-- Administrators and their sessions.
CREATE TABLE admins (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,              -- bcrypt
    created_at    INTEGER NOT NULL
);
CREATE TABLE sessions (
    id         TEXT    PRIMARY KEY,              -- random, only inside the signed and encrypted cookie
    admin_id   INTEGER NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
    csrf       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- Pull secrets: Docker config JSON, sealed with AES-GCM (key in the data directory).
CREATE TABLE pull_secrets (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    sealed     BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
