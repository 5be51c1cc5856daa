-- Insert a workflow's tasks, given as parallel arrays in dependency order:
-- the jobs (a task with dependencies waits in state 'waiting'), then one
-- pgqueue_workflow_tasks row each, matched by position (IDs grow in
-- insertion order). Wakes each queue that received a due task with one
-- NOTIFY, delivered at commit. Returns the job IDs in order.
-- $1 queue, $2 kind, $3 priority, $4 args (json text), $5 max_attempts,
-- $6 run_at (null = now), $7 notify channel (null = don't notify), $8
-- metadata (json text), $9 workflow ID, $10 task names, $11 dependency
-- counts.
WITH ins AS (
    INSERT INTO {{jobs}} (state, queue, kind, priority, args, max_attempts, run_at, metadata, workflow_id)
    SELECT CASE WHEN r.deps > 0 THEN 'waiting'
                WHEN r.run_at IS NULL OR r.run_at <= now() THEN 'available'
                ELSE 'scheduled' END,
           r.queue, r.kind, r.priority, r.args::jsonb, r.max_attempts, coalesce(r.run_at, now()),
           r.metadata::jsonb, $9
    FROM unnest($1::text[], $2::text[], $3::smallint[], $4::text[], $5::integer[], $6::timestamptz[], $8::text[], $11::integer[])
         WITH ORDINALITY AS r(queue, kind, priority, args, max_attempts, run_at, metadata, deps, ord)
    ORDER BY r.ord
    RETURNING id, queue, state
), tasks AS (
    INSERT INTO {{wf_tasks}} (job_id, workflow_id, name, deps_left)
    SELECT i.id, $9, t.name, t.deps
    FROM (SELECT id, row_number() OVER (ORDER BY id) AS pos FROM ins) AS i
    JOIN unnest($10::text[], $11::integer[]) WITH ORDINALITY AS t(name, deps, pos) ON t.pos = i.pos
), woke AS (
    SELECT count(pg_notify($7, due.queue)) AS n
    FROM (SELECT DISTINCT queue FROM ins WHERE state = 'available' AND $7::text IS NOT NULL) AS due
)
SELECT ins.id FROM ins CROSS JOIN woke ORDER BY ins.id
