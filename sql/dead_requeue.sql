-- Move dead-lettered jobs back into their queues as available, attempts
-- reset, error history and fencing token kept; wake their queues.
-- $1 ids, $2 notify channel.
WITH back AS (
    DELETE FROM {{dead}}
    WHERE id = ANY($1::bigint[])
    RETURNING *
), ins AS (
    INSERT INTO {{jobs}} (id, state, queue, kind, priority, args, attempt, max_attempts,
                          errors, run_at, created_at, lease_token)
    SELECT id, 'available', queue, kind, priority, args, 0, max_attempts,
           errors, now(), created_at, lease_token
    FROM back
    RETURNING queue
)
SELECT queue, count(*), pg_notify($2, queue) IS NULL
FROM ins
GROUP BY queue
