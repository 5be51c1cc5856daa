-- complete_recorded.sql for a batch holding workflow tasks: the same
-- delete and history insert, then their dependents released in the same
-- statement (workflow_release.sql). Returns the (id, token) pairs
-- completed. $1 ids, $2 tokens, $3 outputs (json text, null for none), $4
-- keep (microseconds, 0 = not kept), $5 notify channel.
WITH done AS (
    DELETE FROM {{jobs}} AS j
    USING unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[]) AS r(id, token, output, keep),
          (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit
    WHERE j.id = r.id AND j.lease_token = r.token AND j.state = 'running'
    RETURNING j.*, r.output, r.keep
), kept AS (
    {{history_insert}}
    FROM done
    WHERE keep > 0
), {{workflow_release}}
SELECT done.id, done.lease_token FROM done LEFT JOIN woke ON true
