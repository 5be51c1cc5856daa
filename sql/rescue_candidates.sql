-- Running jobs whose lease ended, one row each, for the rescue's row-by-row
-- path: taken only when the set-at-a-time statement failed on some row's
-- data, so that the rows which can move still do. $1: true for jobs with no
-- attempts left (to dead-letter), false for those to requeue; $2 at most
-- this many rows.
SELECT id, lease_token, attempt
FROM {{jobs}}
WHERE state = 'running' AND lease_until < now() AND (attempt >= max_attempts) = $1::boolean
ORDER BY id
LIMIT $2
FOR UPDATE SKIP LOCKED
