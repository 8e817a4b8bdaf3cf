-- One failure type: a job's failure is its reason code, the code's
-- arguments and, apart from them, the tool's lines that say why. Until
-- now a diagnosed failure kept the tool's line as its last argument (and
-- step-failed as its third); it moves to reason_lines.
ALTER TABLE jobs ADD COLUMN reason_lines TEXT NOT NULL DEFAULT '[]';

UPDATE jobs
SET reason_lines = CASE WHEN json_extract(reason_args, '$[#-1]') = '' THEN '[]'
                        ELSE json_array(json_extract(reason_args, '$[#-1]')) END,
    reason_args  = json_remove(reason_args, '$[#-1]')
WHERE json_valid(reason_args) AND json_array_length(reason_args) > 0
  AND (reason IN ('apt-package-not-found', 'apt-version-not-found', 'apt-missing', 'pip-no-match',
                  'pip-conflict', 'pip-externally-managed', 'pip-missing', 'conda-missing',
                  'conda-not-found', 'conda-unsatisfiable')
       OR (reason = 'step-failed' AND json_array_length(reason_args) = 3));

-- Conda's failures are worded without arguments: the line is quoted.
UPDATE jobs SET reason_args = '[]' WHERE reason IN ('conda-not-found', 'conda-unsatisfiable');
