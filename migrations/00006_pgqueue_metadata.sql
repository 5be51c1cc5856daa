-- pgqueue schema, version 6: job metadata (string key/values set at
-- enqueue: trace context, tenant, tags), kept on dead letters too.

-- +goose Up
ALTER TABLE pgqueue_jobs ADD COLUMN metadata jsonb;
ALTER TABLE pgqueue_dead_jobs ADD COLUMN metadata jsonb;

-- Requeue keeps the metadata.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION pgqueue_requeue_dead(job_id bigint) RETURNS boolean
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
                              errors, run_at, created_at, lease_token, metadata)
    SELECT id, 'available', queue, kind, priority, args, 0, max_attempts,
           errors, now(), created_at, lease_token, metadata
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

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION pgqueue_requeue_dead(job_id bigint) RETURNS boolean
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
ALTER TABLE pgqueue_dead_jobs DROP COLUMN metadata;
ALTER TABLE pgqueue_jobs DROP COLUMN metadata;
