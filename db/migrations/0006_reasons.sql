-- Why a job failed or was cancelled, as a code a page translates and its
-- arguments (JSON array of strings). Older rows keep only their English
-- text in error.
ALTER TABLE jobs ADD COLUMN reason TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN reason_args TEXT NOT NULL DEFAULT '[]';
