-- The dead-letter move of last resort, for a job whose ordinary move
-- failed on its own data (a kind too long for the dead-letter table's
-- index, written before enqueue checked lengths). Kind and queue are cut
-- to 500 characters (at most 2,000 bytes, under the btree row limit), and
-- both the attempt's error $3 and the storage error $4 are appended, so
-- the operator sees what happened. Used by dead-lettering, rescue and
-- cancel, so that one such row never blocks the others.
-- $1 id; $2 lease token, or null to match the job in any state (cancel);
-- $5 notify channel, told '!cancel:<id>' when a running job is moved
-- without a token (cancel). Returns the state the job was in.
WITH gone AS (
    DELETE FROM {{jobs}}
    WHERE id = $1
      AND ($2::bigint IS NULL OR (lease_token = $2 AND state = 'running'))
    RETURNING *
), moved AS (
    INSERT INTO {{dead}} (id, queue, kind, priority, args, attempt, max_attempts, errors,
                          created_at, attempted_at, died_at, lease_token, metadata)
    SELECT id, left(queue, 500), left(kind, 500), priority, args, attempt, max_attempts,
           coalesce(errors, '[]'::jsonb)
           || jsonb_build_array(jsonb_set($3::jsonb, '{attempt}', to_jsonb(attempt)))
           || jsonb_build_array(jsonb_set($4::jsonb, '{attempt}', to_jsonb(attempt))),
           created_at, attempted_at, now(), lease_token, metadata
    FROM gone
)
SELECT state,
       CASE WHEN $2::bigint IS NULL AND state = 'running' THEN pg_notify($5, '!cancel:' || id) IS NULL END
FROM gone
