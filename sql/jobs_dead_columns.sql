-- The columns of a listed dead letter, in the order of jobs_list_columns
-- (included by the jobs_dead_columns marker): no run-at or lease, state
-- dead or cancelled (its last error's kind says which), its death as the
-- finish time, its output and progress.
j.id, j.kind, j.queue, j.priority, j.args, j.attempt, j.max_attempts,
j.errors, j.created_at, NULL::timestamptz, j.attempted_at, NULL::timestamptz, j.lease_token, j.metadata,
NULL::bigint,
CASE WHEN (j.errors -> -1 ->> 'kind') = 'cancelled' THEN 'cancelled' ELSE 'dead' END, '', j.died_at,
j.output, j.progress
