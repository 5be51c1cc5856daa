-- Dead-letter running jobs whose lease ended and that have no attempts
-- left, recording error $1 (its attempt filled in per job).
WITH expired AS MATERIALIZED (
    SELECT id
    FROM {{jobs}}
    WHERE state = 'running' AND lease_until < now() AND attempt >= max_attempts
    FOR UPDATE SKIP LOCKED
), gone AS (
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
