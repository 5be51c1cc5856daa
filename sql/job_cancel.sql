-- Cancel a job that is waiting (available or scheduled): it moves to the
-- dead-letter table with error $2 (kind "cancelled") appended, so it stays
-- visible and can be requeued. Running jobs are left alone. $1 id.
WITH gone AS (
    DELETE FROM {{jobs}}
    WHERE id = $1 AND state IN ('available', 'scheduled')
    RETURNING *
)
INSERT INTO {{dead}} (id, queue, kind, priority, args, attempt, max_attempts, errors,
                      created_at, attempted_at, died_at, lease_token)
SELECT id, queue, kind, priority, args, attempt, max_attempts,
       coalesce(errors, '[]'::jsonb) || jsonb_build_array($2::jsonb),
       created_at, attempted_at, now(), lease_token
FROM gone
RETURNING id
