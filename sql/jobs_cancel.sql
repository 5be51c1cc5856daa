-- Cancel the listed jobs that are still waiting or running (Bulk cancel),
-- as job_cancel does for one: each moves to the dead-letter table with
-- error $2 (kind "cancelled") appended, and a running job's holder is
-- told on channel $3. $1 ids. Returns how many moved.
WITH gone AS (
    DELETE FROM {{jobs}}
    WHERE id = ANY($1)
    RETURNING *
), moved AS (
    INSERT INTO {{dead}} (id, queue, kind, priority, args, attempt, max_attempts, errors,
                          created_at, attempted_at, died_at, lease_token, metadata)
    SELECT id, queue, kind, priority, args, attempt, max_attempts,
           coalesce(errors, '[]'::jsonb) || jsonb_build_array(jsonb_set($2::jsonb, '{attempt}', to_jsonb(attempt))),
           created_at, attempted_at, now(), lease_token, metadata
    FROM gone
)
SELECT count(*), count(CASE WHEN state = 'running' THEN pg_notify($3, '!cancel:' || id) IS NULL END)
FROM gone
