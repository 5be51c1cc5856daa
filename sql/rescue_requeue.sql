-- Return running jobs whose lease ended and that have attempts left to
-- their queue, recording error $1 (its attempt filled in per job), and wake
-- those queues. $2 notify channel.
WITH expired AS MATERIALIZED (
    SELECT id
    FROM {{jobs}}
    WHERE state = 'running' AND lease_until < now() AND attempt < max_attempts
    FOR UPDATE SKIP LOCKED
), back AS (
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
