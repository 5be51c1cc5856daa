-- Insert jobs given as parallel arrays; wake each queue that received a due
-- job with one NOTIFY (Postgres folds repeats within a transaction, and the
-- notification is delivered only if the transaction commits).
-- $1 queue, $2 kind, $3 priority, $4 args (json text), $5 max_attempts,
-- $6 run_at (null = now), $7 notify channel.
WITH ins AS (
    INSERT INTO {{jobs}} (state, queue, kind, priority, args, max_attempts, run_at)
    SELECT CASE WHEN r.run_at IS NULL OR r.run_at <= now() THEN 'available' ELSE 'scheduled' END,
           r.queue, r.kind, r.priority, r.args::jsonb, r.max_attempts, coalesce(r.run_at, now())
    FROM unnest($1::text[], $2::text[], $3::smallint[], $4::text[], $5::integer[], $6::timestamptz[])
         WITH ORDINALITY AS r(queue, kind, priority, args, max_attempts, run_at, ord)
    ORDER BY r.ord
    RETURNING id, queue, state
), woke AS (
    SELECT count(pg_notify($7, due.queue)) AS n
    FROM (SELECT DISTINCT queue FROM ins WHERE state = 'available') AS due
)
SELECT ins.id FROM ins CROSS JOIN woke ORDER BY ins.id
