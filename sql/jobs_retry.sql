-- Make the listed jobs that are still scheduled due now (Bulk retry), and
-- wake their queues. $1 ids, $2 notify channel. One row per queue: queue,
-- count, notified.
WITH due AS (
    UPDATE {{jobs}}
    SET state = 'available', run_at = now()
    WHERE id = ANY($1) AND state = 'scheduled'
    RETURNING queue
)
SELECT queue, count(*), pg_notify($2, queue) IS NULL
FROM due
GROUP BY queue
