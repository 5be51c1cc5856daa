-- Run inside the claim's transaction, before claim.sql: serialise claims
-- of a queue that has a global concurrency or rate limit, so that the
-- claim that follows (a new statement, hence a new snapshot) sees every
-- earlier claim's jobs as running and its tokens as spent. Locks nothing
-- for an unlimited queue. $1 queue.
SELECT count(*) FROM (
    SELECT 1 FROM {{queues}}
    WHERE name = $1 AND (max_running IS NOT NULL OR rate_limit IS NOT NULL)
    FOR UPDATE
) AS locked
