-- Dead-letter running jobs whose lease ended and that have no attempts
-- left, recording error $1 (its attempt filled in per job).
WITH expired AS MATERIALIZED (
    SELECT id
    FROM {{jobs}}
    WHERE state = 'running' AND lease_until < now() AND attempt >= max_attempts
    FOR UPDATE SKIP LOCKED
), {{dead_expired}}
