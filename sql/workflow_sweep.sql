-- One round of the workflow failure sweep (ResolveFailedDependencies):
-- take up to 1000 unfinished tasks that are dead letters (dead-lettered
-- or cancelled, by any path), record their outcome, and apply it to their
-- dependents: a dependent with an After edge to one of them is cancelled
-- (moved to the dead letters with an error of kind cancelled naming the
-- dependency; the next round applies that to its own dependents), one
-- whose edges to them are all AfterAnyway counts them as finished and is
-- released when nothing is left. Returns how many dependents it changed,
-- and how many failed tasks it took (0: nothing left to do).
-- $1 notify channel.
WITH failed AS (
    SELECT t.job_id, t.name,
           CASE WHEN d.errors -> -1 ->> 'kind' = 'cancelled' THEN 'cancelled' ELSE 'dead' END AS outcome
    FROM {{wf_tasks}} AS t
    JOIN {{dead}} AS d ON d.id = t.job_id
    WHERE t.finished IS NULL
    ORDER BY t.job_id
    LIMIT 1000
    FOR UPDATE OF t
), marked AS (
    UPDATE {{wf_tasks}} AS t
    SET finished = f.outcome
    FROM failed AS f
    WHERE t.job_id = f.job_id
), children AS (
    SELECT e.to_job,
           bool_and(e.run_on_failure) AS anyway,
           count(*) AS n,
           min(f.name) AS dependency,
           min(f.outcome) AS outcome
    FROM {{wf_edges}} AS e
    JOIN failed AS f ON f.job_id = e.from_job
    GROUP BY e.to_job
), cancelled AS (
    DELETE FROM {{jobs}} AS j
    USING children AS c
    WHERE j.id = c.to_job AND NOT c.anyway AND j.state = 'waiting'
    RETURNING j.*, c.dependency, c.outcome
), buried AS (
    INSERT INTO {{dead}} (id, queue, kind, priority, args, attempt, max_attempts, errors,
                          created_at, attempted_at, died_at, lease_token, metadata)
    SELECT id, queue, kind, priority, args, attempt, max_attempts,
           coalesce(errors, '[]'::jsonb) || jsonb_build_array(jsonb_build_object(
               'attempt', attempt, 'at', now(), 'kind', 'cancelled',
               'error', format('cancelled: its dependency %s was %s', dependency, CASE outcome WHEN 'dead' THEN 'dead-lettered' ELSE outcome END))),
           created_at, attempted_at, now(), lease_token, metadata
    FROM cancelled
    RETURNING id
), locked AS (
    SELECT t.job_id, c.n
    FROM {{wf_tasks}} AS t
    JOIN children AS c ON c.to_job = t.job_id AND c.anyway
    WHERE t.finished IS NULL
    ORDER BY t.job_id
    FOR UPDATE OF t
), counted AS (
    UPDATE {{wf_tasks}} AS t
    SET deps_left = t.deps_left - l.n
    FROM locked AS l
    WHERE t.job_id = l.job_id
    RETURNING t.job_id, t.deps_left
), released AS (
    UPDATE {{jobs}} AS j
    SET state = CASE WHEN j.run_at <= now() THEN 'available' ELSE 'scheduled' END
    FROM counted AS c
    WHERE j.id = c.job_id AND c.deps_left = 0 AND j.state = 'waiting'
    RETURNING j.queue, j.state
), woke AS (
    SELECT count(pg_notify($1, due.queue)) AS n
    FROM (SELECT DISTINCT queue FROM released WHERE state = 'available') AS due
)
SELECT (SELECT count(*) FROM buried) + (SELECT count(*) FROM released),
       (SELECT count(*) FROM failed),
       (SELECT n FROM woke)
