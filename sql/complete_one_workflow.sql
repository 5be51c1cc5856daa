-- complete_one_recorded.sql for a workflow task, in the caller's
-- transaction (CompleteTx): its dependents are released with it. Returns
-- the job's ID when it was completed.
-- $1 id, $2 token, $3 output (json text or null), $4 keep (microseconds),
-- $5 notify channel.
WITH done AS (
    DELETE FROM {{jobs}}
    WHERE id = $1 AND lease_token = $2 AND state = 'running'
    RETURNING *, $3::text AS output, $4::bigint AS keep
), kept AS (
    {{history_insert}}
    FROM done
    WHERE keep > 0
), {{workflow_release}}
SELECT done.id FROM done LEFT JOIN woke ON true
