-- Base-image updates: what a spec does when its base image's digest
-- changes (base_policy: wait for an administrator, rebuild, or rebuild
-- and make the new revision active), the newer digest a check found
-- (base_update, '' for none) and when the base was last checked; a job
-- that becomes the active revision when it succeeds (activate_on_success).
ALTER TABLE specs ADD COLUMN base_policy TEXT NOT NULL DEFAULT 'wait' CHECK (base_policy IN ('wait','rebuild','activate'));
ALTER TABLE specs ADD COLUMN base_update TEXT NOT NULL DEFAULT '';
ALTER TABLE specs ADD COLUMN base_checked_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN activate_on_success INTEGER NOT NULL DEFAULT 0;
