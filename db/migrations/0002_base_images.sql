-- Image Management: base images offered by the create/edit form.
CREATE TABLE base_images (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,              -- display name
    reference   TEXT    NOT NULL UNIQUE,       -- image reference
    description TEXT    NOT NULL DEFAULT '',
    pull_secret TEXT    NOT NULL DEFAULT '',   -- name of a pull secret, '' for none
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
