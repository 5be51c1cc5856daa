-- Whether any unfinished workflow task is a dead letter: the failure
-- sweep's probe, one cheap read (the unfinished-task index is empty when
-- no workflow runs) before it takes its lock and transaction.
SELECT EXISTS (
    SELECT 1
    FROM {{wf_tasks}} AS t
    JOIN {{dead}} AS d ON d.id = t.job_id
    WHERE t.finished IS NULL
)
