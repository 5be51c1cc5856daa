-- Lock sequence key $1's row for the rest of the transaction, making it
-- when it is new; returns its workflow, its last job and whether that job
-- lets the sequence continue after a failure.
INSERT INTO {{sequences}} AS s (key) VALUES ($1)
ON CONFLICT (key) DO UPDATE SET key = excluded.key
RETURNING s.workflow_id, s.last_job, s.last_continue
