-- The on_conflict marker below is empty for jobs without unique keys, and
-- sql/on_conflict_unique.sql for the others.
-- Insert jobs given as parallel arrays; unless the channel is null, wake
-- each queue that received a due job with one NOTIFY (Postgres folds
-- repeats within a transaction, and the notification is delivered only if
-- the transaction commits). A job whose unique key is held by a waiting or
-- running job is skipped: it is absent from the result, which lists (id,
-- unique key, due, transaction ID) of the inserted jobs in insertion order.
-- $1 queue, $2 kind, $3 priority, $4 args (json text), $5 max_attempts,
-- $6 run_at (null = now), $7 notify channel (null = don't notify), $8
-- unique key (null = none), $9 metadata (json text, null = none).
WITH ins AS (
    INSERT INTO {{jobs}} (state, queue, kind, priority, args, max_attempts, run_at, unique_key, metadata)
    SELECT CASE WHEN r.run_at IS NULL OR r.run_at <= now() THEN 'available' ELSE 'scheduled' END,
           r.queue, r.kind, r.priority, r.args::jsonb, r.max_attempts, coalesce(r.run_at, now()), r.unique_key,
           r.metadata::jsonb
    FROM unnest($1::text[], $2::text[], $3::smallint[], $4::text[], $5::integer[], $6::timestamptz[], $8::text[], $9::text[])
         WITH ORDINALITY AS r(queue, kind, priority, args, max_attempts, run_at, unique_key, metadata, ord)
    ORDER BY r.ord
    {{on_conflict}}
    RETURNING id, queue, state, unique_key
), woke AS (
    SELECT count(pg_notify($7, due.queue)) AS n
    FROM (SELECT DISTINCT queue FROM ins WHERE state = 'available' AND $7::text IS NOT NULL) AS due
)
SELECT ins.id, ins.unique_key, ins.queue, ins.state = 'available', pg_current_xact_id()::text::bigint
FROM ins CROSS JOIN woke ORDER BY ins.id
