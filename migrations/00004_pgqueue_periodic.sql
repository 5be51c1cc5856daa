-- pgqueue schema, version 4: periodic jobs.

-- +goose Up

-- The last tick of each periodic job that some client enqueued. A client
-- enqueues a tick only if it moves last_tick forward, in the same
-- transaction as the job, so each tick is enqueued exactly once however
-- many clients run the schedule.
CREATE TABLE pgqueue_periodic (
    name       text        PRIMARY KEY,
    last_tick  timestamptz NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE pgqueue_periodic;
