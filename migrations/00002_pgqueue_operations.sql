-- pgqueue schema, version 2: operations. Paused queues, an index for
-- per-queue stats of scheduled jobs, and SQL functions for operators.

-- +goose Up

-- Queues an operator paused. Claims check this table (a primary-key
-- lookup), so a pause is seen by every client at its next claim.
CREATE TABLE pgqueue_queues (
    name       text        PRIMARY KEY,
    paused_at  timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Lets stats find the queues that hold scheduled jobs without a scan.
CREATE INDEX pgqueue_jobs_scheduled_queue_idx ON pgqueue_jobs (queue)
    WHERE state = 'scheduled';

-- The channel the library LISTENs on for this schema (see notifyChannel in
-- postgres.go); NULL for schema names too long to fit, whose clients then
-- find requeued jobs at their next poll.
-- +goose StatementBegin
CREATE FUNCTION pgqueue_notify_channel() RETURNS text
LANGUAGE sql STABLE
SET search_path FROM CURRENT
AS $$
    SELECT CASE WHEN octet_length('pgqueue.' || current_schema()) <= 63
                THEN 'pgqueue.' || current_schema() END
$$;
-- +goose StatementEnd

-- Move one dead-lettered job back into its queue, due now, with its
-- attempt count reset and its error history kept. Returns false when the
-- job is not in the dead-letter table.
--   SELECT pgqueue_requeue_dead(id) FROM pgqueue_dead_jobs WHERE kind = 'email.send';
-- +goose StatementBegin
CREATE FUNCTION pgqueue_requeue_dead(job_id bigint) RETURNS boolean
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    q text;
BEGIN
    WITH back AS (
        DELETE FROM pgqueue_dead_jobs WHERE id = job_id RETURNING *
    )
    INSERT INTO pgqueue_jobs (id, state, queue, kind, priority, args, attempt, max_attempts,
                              errors, run_at, created_at, lease_token)
    SELECT id, 'available', queue, kind, priority, args, 0, max_attempts,
           errors, now(), created_at, lease_token
    FROM back
    RETURNING queue INTO q;
    IF q IS NULL THEN
        RETURN false;
    END IF;
    IF pgqueue_notify_channel() IS NOT NULL THEN
        PERFORM pg_notify(pgqueue_notify_channel(), q);
    END IF;
    RETURN true;
END
$$;
-- +goose StatementEnd

-- Delete one dead-lettered job for good. Returns false when it was not
-- there.
--   SELECT pgqueue_purge_dead(id) FROM pgqueue_dead_jobs WHERE died_at < now() - interval '30 days';
-- +goose StatementBegin
CREATE FUNCTION pgqueue_purge_dead(job_id bigint) RETURNS boolean
LANGUAGE sql
SET search_path FROM CURRENT
AS $$
    WITH gone AS (DELETE FROM pgqueue_dead_jobs WHERE id = job_id RETURNING 1)
    SELECT count(*) > 0 FROM gone
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION pgqueue_purge_dead(bigint);
DROP FUNCTION pgqueue_requeue_dead(bigint);
DROP FUNCTION pgqueue_notify_channel();
DROP INDEX pgqueue_jobs_scheduled_queue_idx;
DROP TABLE pgqueue_queues;
