-- The columns of a listed queue-table job (included by the
-- jobs_list_columns marker): the job row, its state, holder and no finish
-- time.
{{job_columns}}, j.state, coalesce(j.claimed_by, ''), NULL::timestamptz
