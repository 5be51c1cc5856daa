-- The outputs of job $1's completed dependencies, by task name.
SELECT p.name, p.output
FROM {{wf_edges}} AS e
JOIN {{wf_tasks}} AS p ON p.job_id = e.from_job
WHERE e.to_job = $1 AND p.finished = 'completed' AND p.output IS NOT NULL
