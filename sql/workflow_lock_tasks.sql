-- Lock the task rows of workflow jobs $1 (in ID order) before the
-- statement that finishes them. That statement's snapshot then holds
-- every dependency edge committed by an enqueue that locked one of them
-- first (a sequenced job chained after one: sequence_prev.sql), so no
-- dependent is left waiting for a release that was computed without it.
SELECT job_id FROM {{wf_tasks}} WHERE job_id = ANY($1) ORDER BY job_id FOR UPDATE
