-- The package sources a job's build used (JSON, credentials masked as
-- "****"); '' for jobs built before sources existed or with none set.
ALTER TABLE jobs ADD COLUMN sources TEXT NOT NULL DEFAULT '';
