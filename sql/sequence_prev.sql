-- Whether sequenced job $1 (the last of its key) is still unfinished,
-- locking its task row: a completion or failure sweep of it either
-- finished first (and this sees it finished), or waits for this
-- transaction and then sees the edge it adds.
SELECT finished IS NULL FROM {{wf_tasks}} WHERE job_id = $1 FOR UPDATE
