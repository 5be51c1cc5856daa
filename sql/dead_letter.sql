-- Move a running job held under token $2 to the dead-letter table with
-- error $3 appended, and the output its last run recorded, in one
-- statement.
-- $1 id, $2 token, $3 error (jsonb), $4 output (json text or null).
WITH gone AS (
    DELETE FROM {{jobs}}
    WHERE id = $1 AND lease_token = $2 AND state = 'running'
    RETURNING *
)
INSERT INTO {{dead}} (id, queue, kind, priority, args, attempt, max_attempts, errors,
                      created_at, attempted_at, died_at, lease_token, metadata, output, progress)
SELECT id, queue, kind, priority, args, attempt, max_attempts,
       coalesce(errors, '[]'::jsonb) || jsonb_build_array($3::jsonb),
       created_at, attempted_at, now(), lease_token, metadata, $4::text::jsonb, progress
FROM gone
RETURNING id
