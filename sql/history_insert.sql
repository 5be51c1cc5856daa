-- Insert completed jobs into the history (included by the history_insert
-- marker, followed by FROM and the rows: job columns plus output (json
-- text) and keep (microseconds)). keep_until decides the hourly partition
-- the row lands in and when it is dropped.
INSERT INTO {{history}} (id, queue, kind, priority, args, attempt, max_attempts, errors, metadata,
                         created_at, run_at, attempted_at, finished_at, keep_until,
                         lease_token, output, progress)
SELECT id, queue, kind, priority, args, attempt, max_attempts, errors, metadata,
       created_at, run_at, attempted_at, now(), now() + keep * interval '1 microsecond',
       lease_token, output::jsonb, progress
