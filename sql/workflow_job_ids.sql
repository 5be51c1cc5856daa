-- The job IDs of workflow $1's tasks still in the queue (waiting, due,
-- scheduled or running), for CancelWorkflow.
SELECT t.job_id
FROM {{wf_tasks}} AS t
JOIN {{jobs}} AS j ON j.id = t.job_id
WHERE t.workflow_id = $1
ORDER BY t.job_id
