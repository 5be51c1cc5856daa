-- The job IDs of workflow $1's tasks still in the queue (waiting, due,
-- scheduled or running), for CancelWorkflow, as one array; no row when
-- there is no workflow $1.
SELECT coalesce(array_agg(t.job_id ORDER BY t.job_id) FILTER (WHERE j.id IS NOT NULL), '{}')
FROM {{workflows}} AS w
LEFT JOIN {{wf_tasks}} AS t ON t.workflow_id = w.id
LEFT JOIN {{jobs}} AS j ON j.id = t.job_id
WHERE w.id = $1
GROUP BY w.id
