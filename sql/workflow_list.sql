-- Workflows with their tasks counted by state, newest first: up to $2
-- with an ID below $1 (0: from the newest), or the one with ID $3. The
-- cost is the listed workflows' tasks, each probed in the queue and the
-- dead letters by primary key.
SELECT w.id, w.name, w.tasks, w.created_at,
       count(*) FILTER (WHERE s.st = 'waiting'),
       count(*) FILTER (WHERE s.st IN ('available', 'scheduled', 'running')),
       count(*) FILTER (WHERE s.st = 'completed'),
       count(*) FILTER (WHERE s.st = 'dead'),
       count(*) FILTER (WHERE s.st = 'cancelled')
FROM (SELECT * FROM {{workflows}}
      WHERE ($3::bigint IS NULL OR id = $3) AND ($1::bigint = 0 OR id < $1)
      ORDER BY id DESC LIMIT $2) AS w
JOIN {{wf_tasks}} AS t ON t.workflow_id = w.id
LEFT JOIN {{jobs}} AS j ON j.id = t.job_id
LEFT JOIN {{dead}} AS d ON d.id = t.job_id
CROSS JOIN LATERAL (SELECT {{workflow_task_state}} AS st) AS s
GROUP BY w.id, w.name, w.tasks, w.created_at
ORDER BY w.id DESC
