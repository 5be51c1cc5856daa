-- pgqueue schema, version 5: global concurrency and rate limits per queue.

-- +goose Up

-- max_running: at most this many jobs of the queue run at once across all
-- clients. rate_limit/rate_burst: a token bucket of claims per second,
-- refilled from tokens_at. Claims of a limited queue lock its row, so the
-- limits hold under concurrent claims; unlimited queues are never locked.
ALTER TABLE pgqueue_queues
    ADD COLUMN max_running integer CHECK (max_running > 0),
    ADD COLUMN rate_limit  double precision CHECK (rate_limit > 0),
    ADD COLUMN rate_burst  double precision CHECK (rate_burst >= 1),
    ADD COLUMN tokens      double precision,
    ADD COLUMN tokens_at   timestamptz;

-- +goose Down
ALTER TABLE pgqueue_queues
    DROP COLUMN max_running,
    DROP COLUMN rate_limit,
    DROP COLUMN rate_burst,
    DROP COLUMN tokens,
    DROP COLUMN tokens_at;
