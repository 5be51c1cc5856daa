-- Cancel a job in any state: it moves to the dead-letter table with error
-- $2 (kind "cancelled") appended, so it stays visible and can be requeued.
-- A running job's worker loses its lease (its result is discarded by
-- fencing) and is told to stop by a control notification on channel $3.
-- Returns the state the job was in; no row when it is not in the queue.
-- $1 id.
WITH gone AS (
    DELETE FROM {{jobs}}
    WHERE id = $1
    RETURNING *
), moved AS (
    INSERT INTO {{dead}} (id, queue, kind, priority, args, attempt, max_attempts, errors,
                          created_at, attempted_at, died_at, lease_token, metadata)
    SELECT id, queue, kind, priority, args, attempt, max_attempts,
           coalesce(errors, '[]'::jsonb) || jsonb_build_array(jsonb_set($2::jsonb, '{attempt}', to_jsonb(attempt))),
           created_at, attempted_at, now(), lease_token, metadata
    FROM gone
)
SELECT state, CASE WHEN state = 'running' THEN pg_notify($3, '!cancel:' || id) IS NULL END
FROM gone
