-- An identical request reuses an earlier image instead of building:
-- content_key names what a job builds (the rendered steps over the base
-- image's digest); reused_from is the job whose image a job reused (0:
-- built); no_reuse marks a job that must build (Rebuild).
ALTER TABLE jobs ADD COLUMN content_key TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN reused_from INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN no_reuse INTEGER NOT NULL DEFAULT 0;
CREATE INDEX jobs_content_key ON jobs (spec_id, content_key) WHERE content_key != '';
