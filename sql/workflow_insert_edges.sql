-- Insert a workflow's dependencies. $1 from jobs, $2 to jobs, $3 run on
-- failure.
INSERT INTO {{wf_edges}} (from_job, to_job, run_on_failure)
SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::boolean[])
