-- pgqueue schema, version 9: per-minute stats, and the next tick of
-- periodic jobs.

-- +goose Up

-- What finished per minute, queue and kind, summed over every client:
-- each client counts its runs in memory and adds its counts here every
-- few seconds in one statement (never a write per job). run_buckets and
-- wait_buckets count run and wait times in pgqueue's fixed log-scale
-- buckets (pgqueue.StatsBucketBounds, 24 of them), so that percentiles
-- over many clients and minutes come from summing counts. Rows older
-- than the clients' StatsRetention are pruned by their maintenance loop.
-- Only the current minute's rows are updated, by every client: room left
-- in each page lets those updates stay HOT (no index entry per update).
CREATE TABLE pgqueue_stats (
    minute       timestamptz NOT NULL,
    queue        text        NOT NULL,
    kind         text        NOT NULL,
    completed    bigint      NOT NULL DEFAULT 0,
    failed       bigint      NOT NULL DEFAULT 0,
    dead         bigint      NOT NULL DEFAULT 0,
    cancelled    bigint      NOT NULL DEFAULT 0,
    lease_lost   bigint      NOT NULL DEFAULT 0,
    run_buckets  bigint[]    NOT NULL,
    wait_buckets bigint[]    NOT NULL,
    PRIMARY KEY (minute, queue, kind)
) WITH (fillfactor = 80);

-- The next tick the client that recorded last_tick expected from the
-- schedule, for operators (Admin.PeriodicJobs); null for rows written
-- before this version.
ALTER TABLE pgqueue_periodic ADD COLUMN next_tick timestamptz;

-- +goose Down
ALTER TABLE pgqueue_periodic DROP COLUMN next_tick;
DROP TABLE pgqueue_stats;
