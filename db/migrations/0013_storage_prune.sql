-- Housekeeping also prunes the build storage (the image store) beyond a
-- size: what each run freed there.
ALTER TABLE housekeeping_runs ADD COLUMN storage_freed INTEGER NOT NULL DEFAULT 0;
