-- Claim up to $3 due jobs of queue $1 whose kind is in $2, in priority,
-- run_at, id order, taking a lease of $4 microseconds for client $5.
-- Nothing is claimed from a queue an operator paused. Queues with global
-- limits use claim_limited.sql instead.
-- MATERIALIZED keeps the locking subquery from being re-run by the planner,
-- which could otherwise claim more than $3 rows.
WITH picked AS MATERIALIZED (
    SELECT id
    FROM {{jobs}}
    WHERE state = 'available' AND queue = $1 AND kind = ANY($2::text[])
      AND NOT EXISTS (SELECT 1 FROM {{queues}} WHERE name = $1 AND paused_at IS NOT NULL)
    ORDER BY priority, run_at, id
    LIMIT $3
    FOR UPDATE SKIP LOCKED
)
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
RETURNING j.id, j.kind, j.queue, j.priority, j.args, j.attempt, j.max_attempts,
          j.errors, j.created_at, j.run_at, j.attempted_at, j.lease_until, j.lease_token, j.metadata
