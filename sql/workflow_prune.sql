-- Delete up to 1000 workflows created more than $1 microseconds ago whose
-- every task has finished, with their tasks and dependencies. A workflow
-- still running is kept whatever its age; the jobs of its tasks (in the
-- queue, the dead letters, the history) are not touched. Returns how
-- many workflows it deleted.
WITH old AS (
    SELECT w.id
    FROM {{workflows}} AS w
    WHERE w.created_at < now() - $1::bigint * interval '1 microsecond'
      AND NOT EXISTS (SELECT 1 FROM {{wf_tasks}} AS t WHERE t.workflow_id = w.id AND t.finished IS NULL)
    ORDER BY w.id
    LIMIT 1000
), tasks AS (
    DELETE FROM {{wf_tasks}} AS t
    USING old
    WHERE t.workflow_id = old.id
    RETURNING t.job_id
), edges AS (
    DELETE FROM {{wf_edges}} AS e
    USING tasks
    WHERE e.from_job = tasks.job_id
), gone AS (
    DELETE FROM {{workflows}} AS w
    USING old
    WHERE w.id = old.id
    RETURNING w.id
)
SELECT count(*) FROM gone
