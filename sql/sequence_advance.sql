-- Make job $3 the last of sequence key $1 (workflow $2), with its
-- SequenceContinue $4.
UPDATE {{sequences}} SET workflow_id = $2, last_job = $3, last_continue = $4 WHERE key = $1
