-- The dead-letter move shared by rescue_dead.sql and liveness_dead.sql
-- (included by the dead_expired marker after their CTE "expired" of job
-- IDs): the jobs move to the dead-letter table with error $1 appended
-- (its attempt filled in per job). Returns each moved job's queue.
gone AS (
    DELETE FROM {{jobs}} AS j
    USING expired
    WHERE j.id = expired.id
    RETURNING j.*
)
INSERT INTO {{dead}} (id, queue, kind, priority, args, attempt, max_attempts, errors,
                      created_at, attempted_at, died_at, lease_token, metadata)
SELECT id, queue, kind, priority, args, attempt, max_attempts,
       coalesce(errors, '[]'::jsonb)
       || jsonb_build_array(jsonb_set($1::jsonb, '{attempt}', to_jsonb(attempt))),
       created_at, attempted_at, now(), lease_token, metadata
FROM gone
RETURNING queue
