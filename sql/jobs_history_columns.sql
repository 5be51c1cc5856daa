-- The columns of a listed history row, in the order of jobs_list_columns
-- (included by the jobs_history_columns marker): no lease, state
-- completed, its finish time, output and progress.
j.id, j.kind, j.queue, j.priority, j.args, j.attempt, j.max_attempts,
j.errors, j.created_at, j.run_at, j.attempted_at, NULL::timestamptz, j.lease_token, j.metadata,
NULL::bigint,
'completed', '', j.finished_at, j.output, j.progress
