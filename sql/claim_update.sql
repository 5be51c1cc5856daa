-- The claim's UPDATE, shared by claim.sql and claim_limited.sql (which
-- include it by the claim_update marker): takes the rows of the CTE "picked",
-- marks them running under a new lease and returns them.
-- $4 lease in microseconds, $5 client ID.
UPDATE {{jobs}} AS j
SET state        = 'running',
    attempt      = j.attempt + 1,
    -- Fencing tokens only grow, and follow the clock rather than just the
    -- last token: a claim forgotten in a crash (claims commit
    -- asynchronously) must not have its token handed out again.
    lease_token  = greatest(j.lease_token + 1, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint),
    lease_until  = now() + $4::bigint * interval '1 microsecond',
    attempted_at = now(),
    claimed_by   = $5
FROM picked
WHERE j.id = picked.id
RETURNING {{job_columns}}
