-- Lock the task rows the next workflow_sweep.sql round will take (see
-- workflow_lock_tasks.sql for why the lock comes in a statement of its
-- own).
SELECT t.job_id
FROM {{wf_tasks}} AS t
JOIN {{dead}} AS d ON d.id = t.job_id
WHERE t.finished IS NULL
ORDER BY t.job_id
LIMIT 1000
FOR UPDATE OF t
