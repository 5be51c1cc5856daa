-- Complete running jobs that carry output or a retention (RunRecorder):
-- delete each one still held under its token and, when it is kept, insert
-- it into the history with its output in the same statement, so a
-- completion is one write whatever it keeps. Output without a retention
-- leaves with the job. The release marker is empty (workflow_no_release)
-- for a batch without workflow tasks, and workflow_release.sql for one
-- with them: their dependents are then released in the same statement.
-- Returns the (id, token) pairs completed. The transaction may skip the
-- synchronous WAL flush as complete.sql does.
-- $1 ids, $2 tokens, $3 outputs (json text, null for none), $4 keep
-- (microseconds, 0 = not kept), $5 notify channel (workflow_release only).
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
), {{release}}
SELECT done.id, done.lease_token FROM done LEFT JOIN woke ON true
