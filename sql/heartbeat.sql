-- Extend the leases of running jobs held under their tokens to $3
-- microseconds from now; returns the (id, token) pairs still held. Touches no indexed
-- column, so on pages with free space this is a HOT update.
-- $1 ids, $2 tokens.
UPDATE {{jobs}} AS j
SET lease_until = now() + $3::bigint * interval '1 microsecond'
FROM unnest($1::bigint[], $2::bigint[]) AS r(id, token)
WHERE j.id = r.id AND j.lease_token = r.token AND j.state = 'running'
RETURNING j.id, j.lease_token
