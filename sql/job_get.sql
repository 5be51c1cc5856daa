-- One job of the queue table, whatever its state: the job-row columns,
-- then its state and the client holding it. $1 id.
SELECT {{job_columns}},
       j.state, coalesce(j.claimed_by, '')
FROM {{jobs}} AS j
WHERE j.id = $1
