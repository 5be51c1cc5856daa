-- The job-row column list, in the order scanJobRow reads it, for every
-- statement that returns whole jobs (included by the job_columns marker,
-- with the jobs table aliased j).
j.id, j.kind, j.queue, j.priority, j.args, j.attempt, j.max_attempts,
j.errors, j.created_at, j.run_at, j.attempted_at, j.lease_until, j.lease_token, j.metadata,
j.workflow_id
