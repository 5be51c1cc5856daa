-- Return to their queue the running jobs with attempts left that are held
-- by the clients $3 and were claimed more than $4 microseconds ago, unless
-- the holder's liveness lock (liveness_lock.sql; $5 the schema's key) is
-- held again by now; record error $1 (its attempt filled in per job) and
-- wake those queues on channel $2.
WITH held AS MATERIALIZED (
    SELECT objid
    FROM pg_locks
    WHERE locktype = 'advisory' AND granted AND objsubid = 2
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND classid = ($5::int4)::oid
), expired AS MATERIALIZED (
    SELECT id
    FROM {{jobs}}
    WHERE state = 'running' AND claimed_by = ANY($3::text[])
      AND attempted_at < now() - $4::bigint * interval '1 microsecond'
      AND attempt < max_attempts
      AND hashtext(claimed_by)::oid NOT IN (SELECT objid FROM held)
    FOR UPDATE SKIP LOCKED
), {{requeue_expired}}
