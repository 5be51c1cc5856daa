-- Return running jobs whose lease ended and that have attempts left to
-- their queue, recording error $1 (its attempt filled in per job), and wake
-- those queues. $2 notify channel.
WITH expired AS MATERIALIZED (
    SELECT id
    FROM {{jobs}}
    WHERE state = 'running' AND lease_until < now() AND attempt < max_attempts
    FOR UPDATE SKIP LOCKED
), {{requeue_expired}}
