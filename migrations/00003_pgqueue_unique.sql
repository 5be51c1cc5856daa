-- pgqueue schema, version 3: unique jobs.

-- +goose Up

-- A job enqueued with a unique key is refused while another job with the
-- same key is waiting or running. Finished jobs leave this table (deleted,
-- or moved to pgqueue_dead_jobs without their key), which frees the key.
-- The key never changes after insert, so it does not stop heartbeats from
-- being HOT updates.
ALTER TABLE pgqueue_jobs ADD COLUMN unique_key text;
CREATE UNIQUE INDEX pgqueue_jobs_unique_idx ON pgqueue_jobs (unique_key)
    WHERE unique_key IS NOT NULL;

-- +goose Down
DROP INDEX pgqueue_jobs_unique_idx;
ALTER TABLE pgqueue_jobs DROP COLUMN unique_key;
