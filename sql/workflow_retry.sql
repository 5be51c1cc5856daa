-- Retry workflow $1 from its failed tasks: every task of it in the dead
-- letters (dead-lettered, or cancelled with its dependency) goes back into
-- the queue with its attempts reset, waiting while some of its
-- dependencies have not completed, due now otherwise; completed tasks are
-- not run again. Wakes the queues of the due ones. Returns how many tasks
-- went back. $2 notify channel.
WITH failed AS (
    SELECT t.job_id
    FROM {{wf_tasks}} AS t
    JOIN {{dead}} AS d ON d.id = t.job_id
    WHERE t.workflow_id = $1
    FOR UPDATE OF t
), deps AS (
    SELECT f.job_id, count(e.from_job) FILTER (WHERE p.finished IS DISTINCT FROM 'completed') AS left_
    FROM failed AS f
    LEFT JOIN {{wf_edges}} AS e ON e.to_job = f.job_id
    LEFT JOIN {{wf_tasks}} AS p ON p.job_id = e.from_job
    GROUP BY f.job_id
), reset AS (
    UPDATE {{wf_tasks}} AS t
    SET finished = NULL, deps_left = deps.left_
    FROM deps
    WHERE t.job_id = deps.job_id
), back AS (
    DELETE FROM {{dead}} AS d
    USING failed AS f
    WHERE d.id = f.job_id
    RETURNING d.*
), ins AS (
    INSERT INTO {{jobs}} (id, state, queue, kind, priority, args, attempt, max_attempts,
                          errors, run_at, created_at, lease_token, metadata, workflow_id)
    SELECT b.id, CASE WHEN deps.left_ > 0 THEN 'waiting' ELSE 'available' END,
           b.queue, b.kind, b.priority, b.args, 0, b.max_attempts,
           b.errors, now(), b.created_at, b.lease_token, b.metadata, $1
    FROM back AS b
    JOIN deps ON deps.job_id = b.id
    RETURNING queue, state
), woke AS (
    SELECT count(pg_notify($2, due.queue)) AS n
    FROM (SELECT DISTINCT queue FROM ins WHERE state = 'available') AS due
)
SELECT (SELECT count(*) FROM ins), (SELECT n FROM woke)
