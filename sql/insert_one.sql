-- The on_conflict marker below is empty for jobs without unique keys, and
-- sql/on_conflict_unique.sql for the others.
-- Insert one job (the common EnqueueTx case: cheaper to plan and run than
-- the array form) and, when it is due and a channel is given, wake its
-- queue. Returns the job's ID, whether it is due, and the ID of the
-- transaction (for the trailing NOTIFY of notify.go when $7 is null); no
-- row when its unique key is held by a waiting or running job.
-- $1 queue, $2 kind, $3 priority, $4 args, $5 max_attempts, $6 run_at
-- (null = now), $7 notify channel (null = don't notify), $8 unique key
-- (null = none), $9 metadata.
WITH ins AS (
    INSERT INTO {{jobs}} (state, queue, kind, priority, args, max_attempts, run_at, unique_key, metadata)
    VALUES (CASE WHEN $6::timestamptz IS NULL OR $6::timestamptz <= now() THEN 'available' ELSE 'scheduled' END,
            $1, $2, $3, $4, $5, coalesce($6::timestamptz, now()), $8, $9::jsonb)
    {{on_conflict}}
    RETURNING id, queue, state
)
SELECT id, state = 'available',
       CASE WHEN state = 'available' AND $7::text IS NOT NULL THEN pg_notify($7, queue) IS NULL END,
       pg_current_xact_id()::text::bigint
FROM ins
