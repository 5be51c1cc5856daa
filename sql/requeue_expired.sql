-- The requeue shared by rescue_requeue.sql and liveness_requeue.sql
-- (included by the requeue_expired marker after their CTE "expired" of
-- job IDs): the jobs become available now with error $1 appended (its
-- attempt filled in per job), and their queues are woken on channel $2.
-- Returns (queue, count, notified) per queue.
back AS (
    UPDATE {{jobs}} AS j
    SET state       = 'available',
        run_at      = now(),
        lease_until = NULL,
        claimed_by  = NULL,
        errors      = coalesce(j.errors, '[]'::jsonb)
                      || jsonb_build_array(jsonb_set($1::jsonb, '{attempt}', to_jsonb(j.attempt)))
    FROM expired
    WHERE j.id = expired.id
    RETURNING j.queue
)
SELECT queue, count(*), pg_notify($2, queue) IS NULL
FROM back
GROUP BY queue
