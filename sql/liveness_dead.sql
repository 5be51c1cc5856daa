-- Dead-letter the running jobs with no attempts left that are held by the
-- clients $2 and were claimed more than $3 microseconds ago, unless the
-- holder's liveness lock (liveness_lock.sql; $4 the schema's key) is held
-- again by now, recording error $1 (its attempt filled in per job).
WITH held AS MATERIALIZED (
    SELECT objid
    FROM pg_locks
    WHERE locktype = 'advisory' AND granted AND objsubid = 2
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND classid = ($4::int4)::oid
), expired AS MATERIALIZED (
    SELECT id
    FROM {{jobs}}
    WHERE state = 'running' AND claimed_by = ANY($2::text[])
      AND attempted_at < now() - $3::bigint * interval '1 microsecond'
      AND attempt >= max_attempts
      AND hashtext(claimed_by)::oid NOT IN (SELECT objid FROM held)
    FOR UPDATE SKIP LOCKED
), {{dead_expired}}
