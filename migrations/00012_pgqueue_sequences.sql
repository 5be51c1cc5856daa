-- pgqueue schema, version 12: sequences (EnqueueOptions.Sequence).

-- +goose Up

-- One row per sequence key: the workflow that holds its jobs, and its
-- last job with that job's SequenceContinue. An enqueue locks the key's
-- row (so the jobs of a key are chained in the order their enqueues
-- commit), chains the new job after the last one unless it has finished,
-- and makes the new job the last.
CREATE TABLE pgqueue_sequences (
    key            text    PRIMARY KEY,
    workflow_id    bigint  REFERENCES pgqueue_workflows (id) ON DELETE SET NULL,
    last_job       bigint,
    last_continue  boolean NOT NULL DEFAULT false
);

-- +goose Down
DROP TABLE pgqueue_sequences;
