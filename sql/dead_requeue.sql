-- Move the dead-lettered jobs matching the filters (null = any) back into
-- their queues as available, attempts reset, error history and fencing
-- token kept; wake their queues. $1 kind, $2 queue, $3 ids, $4 died
-- before, $5 died after, $6 notify channel.
WITH back AS (
    DELETE FROM {{dead}}
    {{dead_filter}}
    RETURNING *
), ins AS (
    INSERT INTO {{jobs}} (id, state, queue, kind, priority, args, attempt, max_attempts,
                          errors, run_at, created_at, lease_token, metadata)
    SELECT id, 'available', queue, kind, priority, args, 0, max_attempts,
           errors, now(), created_at, lease_token, metadata
    FROM back
    RETURNING queue
)
SELECT queue, count(*), pg_notify($6, queue) IS NULL
FROM ins
GROUP BY queue
