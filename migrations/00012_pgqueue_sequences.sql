-- pgqueue schema, version 12: sequences (EnqueueOptions.Sequence) and
-- batches (NewBatch).

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

-- A batch's OnDiscard callback runs only when one of its jobs was
-- dead-lettered or cancelled: needs_failure marks it, failed_deps counts
-- the dependencies that failed (the failure sweep adds to it), and a task
-- whose dependencies all completed is skipped ('skipped': its job deleted
-- unrun).
ALTER TABLE pgqueue_workflow_tasks
    ADD COLUMN needs_failure boolean NOT NULL DEFAULT false,
    ADD COLUMN failed_deps integer NOT NULL DEFAULT 0,
    DROP CONSTRAINT pgqueue_workflow_tasks_finished_check,
    ADD CONSTRAINT pgqueue_workflow_tasks_finished_check
        CHECK (finished IN ('completed', 'dead', 'cancelled', 'skipped'));

-- +goose Down
UPDATE pgqueue_workflow_tasks SET finished = 'cancelled' WHERE finished = 'skipped';
ALTER TABLE pgqueue_workflow_tasks
    DROP CONSTRAINT pgqueue_workflow_tasks_finished_check,
    ADD CONSTRAINT pgqueue_workflow_tasks_finished_check
        CHECK (finished IN ('completed', 'dead', 'cancelled')),
    DROP COLUMN failed_deps,
    DROP COLUMN needs_failure;
DROP TABLE pgqueue_sequences;
