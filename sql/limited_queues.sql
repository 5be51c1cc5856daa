-- Queues with a global concurrency or rate limit: their claims take the
-- locking path (claim_lock.sql, claim_limited.sql); the others the plain
-- claim. Clients cache this for a second.
SELECT name FROM {{queues}} WHERE max_running IS NOT NULL OR rate_limit IS NOT NULL
