-- The tasks of workflow $1 in dependency order (job ID), each with its
-- state and the names of the tasks it depends on. One join over the
-- workflow's tasks and their in-edges (not a subquery per task), so the
-- cost stays linear in the workflow's size whatever plan Postgres picks.
SELECT t.name, t.job_id, {{workflow_task_state}},
       coalesce(array_agg(p.name ORDER BY p.job_id) FILTER (WHERE p.job_id IS NOT NULL), '{}')
FROM {{wf_tasks}} AS t
LEFT JOIN {{jobs}} AS j ON j.id = t.job_id
LEFT JOIN {{dead}} AS d ON d.id = t.job_id
LEFT JOIN {{wf_edges}} AS e ON e.to_job = t.job_id
LEFT JOIN {{wf_tasks}} AS p ON p.job_id = e.from_job
WHERE t.workflow_id = $1
GROUP BY t.job_id, t.name, t.finished, j.state, d.id, d.errors
ORDER BY t.job_id
