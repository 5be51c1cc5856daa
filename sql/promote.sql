-- Make scheduled jobs that fell due available, a bounded batch at a time,
-- and wake each queue that received some. $1 notify channel, $2 batch size.
WITH due AS MATERIALIZED (
    SELECT id
    FROM {{jobs}}
    WHERE state = 'scheduled' AND run_at <= now()
    ORDER BY run_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
), moved AS (
    UPDATE {{jobs}} AS j
    SET state = 'available'
    FROM due
    WHERE j.id = due.id
    RETURNING j.queue
)
SELECT queue, count(*), pg_notify($1, queue) IS NULL
FROM moved
GROUP BY queue
