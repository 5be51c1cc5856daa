-- Every client holding running jobs, and whether its liveness lock (see
-- liveness_lock.sql; $1 the schema's liveness key) is held by some
-- session right now. The locks are read once, not once per client.
WITH held AS MATERIALIZED (
    SELECT objid
    FROM pg_locks
    WHERE locktype = 'advisory' AND granted AND objsubid = 2
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND classid = ($1::int4)::oid
), holders AS (
    SELECT DISTINCT claimed_by
    FROM {{jobs}}
    WHERE state = 'running' AND claimed_by IS NOT NULL
)
SELECT claimed_by, hashtext(claimed_by)::oid IN (SELECT objid FROM held)
FROM holders
