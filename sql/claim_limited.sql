-- claim.sql for a queue with global limits: claims no more than the
-- queue's concurrency and rate limits allow (claim_lock.sql holds the
-- queue's row, so concurrent claims see each other's jobs and tokens). MATERIALIZED keeps the locking
-- subquery from being re-run by the planner, which could otherwise claim
-- more than the limit.
WITH lim AS MATERIALIZED (
    SELECT least(
        $3::integer,
        coalesce((SELECT greatest(0, q.max_running - (SELECT count(*) FROM {{jobs}} r
                                                      WHERE r.state = 'running' AND r.queue = $1))::integer
                  FROM {{queues}} q WHERE q.name = $1 AND q.max_running IS NOT NULL), $3::integer),
        coalesce((SELECT floor(least(q.rate_burst, coalesce(q.tokens, q.rate_burst)
                                     + extract(epoch FROM now() - coalesce(q.tokens_at, now())) * q.rate_limit))::integer
                  FROM {{queues}} q WHERE q.name = $1 AND q.rate_limit IS NOT NULL), $3::integer)
    ) AS n
), picked AS MATERIALIZED (
    SELECT id
    FROM {{jobs}}
    WHERE state = 'available' AND queue = $1 AND kind = ANY($2::text[])
      AND NOT EXISTS (SELECT 1 FROM {{queues}} WHERE name = $1 AND paused_at IS NOT NULL)
    ORDER BY priority, run_at, id
    LIMIT (SELECT n FROM lim)
    FOR UPDATE SKIP LOCKED
), claimed AS (
{{claim_update}}
), spent AS (
    UPDATE {{queues}} AS q
    SET tokens    = least(q.rate_burst, coalesce(q.tokens, q.rate_burst)
                          + extract(epoch FROM now() - coalesce(q.tokens_at, now())) * q.rate_limit)
                    - (SELECT count(*) FROM claimed),
        tokens_at = now()
    WHERE q.name = $1 AND q.rate_limit IS NOT NULL
)
SELECT * FROM claimed
