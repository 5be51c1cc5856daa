-- The columns of a listed queue-table job (included by the
-- jobs_list_columns marker): the job row, its state, holder, no finish
-- time, no output (it is stored when the job finishes) and its progress.
{{job_columns}}, j.state, coalesce(j.claimed_by, ''), NULL::timestamptz,
NULL::jsonb, j.progress
