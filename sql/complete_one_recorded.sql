-- Complete one job inside the caller's transaction (CompleteTx) that
-- carries output or a retention, or is a workflow task; see
-- complete_recorded.sql, whose release marker this shares. Returns the
-- job's ID when it was completed.
-- $1 id, $2 token, $3 output (json text or null), $4 keep (microseconds),
-- $5 notify channel (workflow_release only).
WITH done AS (
    DELETE FROM {{jobs}}
    WHERE id = $1 AND lease_token = $2 AND state = 'running'
    RETURNING *, $3::text AS output, $4::bigint AS keep
), kept AS (
    {{history_insert}}
    FROM done
    WHERE keep > 0
), {{release}}
SELECT done.id FROM done LEFT JOIN woke ON true
