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
{{claim_update}}
