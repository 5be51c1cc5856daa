-- The tasks of workflow $1 in dependency order (job ID), each with its
-- state and the names of the tasks it depends on.
SELECT t.name, t.job_id, {{workflow_task_state}},
       coalesce((SELECT array_agg(p.name ORDER BY p.job_id)
                 FROM {{wf_edges}} AS e
                 JOIN {{wf_tasks}} AS p ON p.job_id = e.from_job
                 WHERE e.to_job = t.job_id), '{}')
FROM {{wf_tasks}} AS t
LEFT JOIN {{jobs}} AS j ON j.id = t.job_id
LEFT JOIN {{dead}} AS d ON d.id = t.job_id
WHERE t.workflow_id = $1
ORDER BY t.job_id
