-- Delete successfully finished jobs still held under their token, and
-- return the (id, token) pairs that were NOT deleted: those whose lease
-- was lost. That is usually none, so a batch of completions sends nothing
-- back per job (returning every deleted pair cost the client a scanned row
-- and a map entry per job). Completion-only transactions may skip the
-- synchronous WAL flush: a crash then loses recent completions, whose jobs
-- simply run again (at-least-once holds).
-- $1 ids, $2 tokens.
WITH done AS (
    DELETE FROM {{jobs}} AS j
    USING unnest($1::bigint[], $2::bigint[]) AS r(id, token),
          (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit
    WHERE j.id = r.id AND j.lease_token = r.token AND j.state = 'running'
    RETURNING j.id, j.lease_token
)
-- Matched on the pair, not the ID: a batch may hold a stale ref beside
-- the live one of the same job.
SELECT r.id, r.token
FROM unnest($1::bigint[], $2::bigint[]) AS r(id, token)
WHERE NOT EXISTS (SELECT 1 FROM done WHERE done.id = r.id AND done.lease_token = r.token)
