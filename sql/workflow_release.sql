-- Release the dependents of workflow tasks that just finished well
-- (included by the release marker of complete_recorded.sql and
-- complete_one_recorded.sql, after a CTE "done" holding the
-- completed jobs' id, workflow_id and output as json text): record each
-- task's outcome and output, take one from deps_left of each dependent
-- per finished dependency, and make due every dependent whose count
-- reaches 0, waking its queue. A task that runs only when a dependency
-- failed (a batch's OnDiscard) and whose dependencies all completed is
-- skipped instead: its job is deleted unrun, its outcome "skipped". A
-- dependent already finished (it ran
-- anyway, and its dependency was retried) is left alone. Dependents are
-- locked in ID order, so that
-- concurrent completions sharing dependents cannot deadlock. The cost is
-- the finished tasks' own out-edges. $5 is the notify channel.
finished AS (
    UPDATE {{wf_tasks}} AS t
    SET finished = 'completed', output = done.output::jsonb
    FROM done
    WHERE t.job_id = done.id AND done.workflow_id IS NOT NULL
    RETURNING t.job_id
), children AS (
    SELECT e.to_job, count(*) AS n
    FROM {{wf_edges}} AS e
    JOIN finished AS f ON f.job_id = e.from_job
    GROUP BY e.to_job
), locked AS (
    SELECT t.job_id, c.n
    FROM {{wf_tasks}} AS t
    JOIN children AS c ON c.to_job = t.job_id
    WHERE t.finished IS NULL
    ORDER BY t.job_id
    FOR UPDATE OF t
), counted AS (
    UPDATE {{wf_tasks}} AS t
    SET deps_left = t.deps_left - l.n,
        finished = CASE WHEN t.deps_left = l.n AND t.needs_failure AND t.failed_deps = 0
                        THEN 'skipped' ELSE t.finished END
    FROM locked AS l
    WHERE t.job_id = l.job_id
    RETURNING t.job_id, t.deps_left, t.finished
), released AS (
    UPDATE {{jobs}} AS j
    SET state = CASE WHEN j.run_at <= now() THEN 'available' ELSE 'scheduled' END
    FROM counted AS c
    WHERE j.id = c.job_id AND c.deps_left = 0 AND c.finished IS NULL AND j.state = 'waiting'
    RETURNING j.queue, j.state
), skipped AS (
    DELETE FROM {{jobs}} AS j
    USING counted AS c
    WHERE j.id = c.job_id AND c.finished = 'skipped' AND j.state = 'waiting'
), woke AS (
    SELECT count(pg_notify($5, due.queue)) AS n
    FROM (SELECT DISTINCT queue FROM released WHERE state = 'available') AS due
)
