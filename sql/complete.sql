-- Delete successfully finished jobs still held under their token; returns
-- the (id, token) pairs that were deleted. Completion-only transactions may skip the
-- synchronous WAL flush: a crash then loses recent completions, whose jobs
-- simply run again (at-least-once holds).
-- $1 ids, $2 tokens.
DELETE FROM {{jobs}} AS j
USING unnest($1::bigint[], $2::bigint[]) AS r(id, token),
      (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit
WHERE j.id = r.id AND j.lease_token = r.token AND j.state = 'running'
RETURNING j.id, j.lease_token
