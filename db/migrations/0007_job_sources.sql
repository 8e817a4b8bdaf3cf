-- The package sources a job's build used (JSON, credentials masked as
-- "****"); '' for jobs built before sources existed or with none set.
ALTER TABLE jobs ADD COLUMN sources TEXT NOT NULL DEFAULT '';
-- The APT steps the build ran (JSON array of arrays of package lines), so
-- the next build that only adds packages can keep them (spec.PlanAPT).
ALTER TABLE jobs ADD COLUMN apt_steps TEXT NOT NULL DEFAULT '[]';
