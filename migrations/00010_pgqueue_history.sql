-- pgqueue schema, version 10: the job history (opt-in retention), job
-- output and progress.

-- +goose Up

-- Progress rides on the heartbeat (SetProgress): the column is in no
-- index, so the heartbeat stays a HOT update.
ALTER TABLE pgqueue_jobs ADD COLUMN progress jsonb;
-- A dead letter keeps what its last run recorded.
ALTER TABLE pgqueue_dead_jobs ADD COLUMN output jsonb, ADD COLUMN progress jsonb;

-- Completed jobs kept for Config.Retention. The statement that completes a
-- job moves it here, so the hot table still holds only waiting and running
-- work. Rows are partitioned by the hour they may be dropped (keep_until,
-- finish time plus the queue's retention), so pruning drops whole
-- partitions: no DELETE, no dead rows, no vacuum, whatever the volume.
CREATE TABLE pgqueue_job_history (
    id            bigint      NOT NULL,
    queue         text        NOT NULL,
    kind          text        NOT NULL,
    priority      smallint    NOT NULL,
    args          jsonb       NOT NULL,
    attempt       integer     NOT NULL,
    max_attempts  integer     NOT NULL,
    errors        jsonb,
    metadata      jsonb,
    created_at    timestamptz NOT NULL,
    run_at        timestamptz NOT NULL,
    attempted_at  timestamptz,
    finished_at   timestamptz NOT NULL,
    keep_until    timestamptz NOT NULL,
    lease_token   bigint      NOT NULL,
    output        jsonb,
    progress      jsonb
) PARTITION BY RANGE (keep_until);

-- Rows whose hour has no partition yet (a completion before any client
-- made it) land here; pgqueue_history_prepare moves them into their hour's
-- partition when it makes it, and pgqueue_history_prune deletes the ones
-- past their keep time.
CREATE TABLE pgqueue_job_history_default PARTITION OF pgqueue_job_history DEFAULT;

-- Listing walks IDs (keyset pages) and finish times (time-range filters).
CREATE INDEX pgqueue_job_history_id_idx ON pgqueue_job_history (id);
CREATE INDEX pgqueue_job_history_finished_idx ON pgqueue_job_history (finished_at);

-- Make the hourly partitions from the current hour up to upto, so that
-- completions kept until then have one. Partitions are named by their UTC
-- hour (pgqueue_job_history_YYYYMMDDHH). Clients call it about once a
-- minute with their longest retention; concurrent calls serialise on an
-- advisory lock, and a lock on the table it cannot get within 100ms makes
-- it stop (the next call goes on) rather than queue completions behind it.
-- +goose StatementBegin
CREATE FUNCTION pgqueue_history_prepare(upto timestamptz) RETURNS integer
LANGUAGE plpgsql
SET search_path FROM CURRENT
SET TimeZone = 'UTC'
SET lock_timeout = '100ms'
AS $$
DECLARE
    hour timestamptz := date_trunc('hour', now());
    part text;
    made integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext(current_schema() || '.pgqueue_job_history'));
    WHILE hour <= upto LOOP
        part := 'pgqueue_job_history_' || to_char(hour, 'YYYYMMDDHH24');
        IF to_regclass(format('%I.%I', current_schema(), part)) IS NULL THEN
            EXECUTE format('CREATE TABLE %I.%I (LIKE %I.pgqueue_job_history)',
                           current_schema(), part, current_schema());
            -- The attach refuses while the default partition holds rows of
            -- this hour: move them first, in the same transaction.
            EXECUTE format('WITH moved AS (DELETE FROM %I.pgqueue_job_history_default
                                           WHERE keep_until >= $1 AND keep_until < $2 RETURNING *)
                            INSERT INTO %I.%I SELECT * FROM moved',
                           current_schema(), current_schema(), part)
                USING hour, hour + interval '1 hour';
            EXECUTE format('ALTER TABLE %I.pgqueue_job_history ATTACH PARTITION %I.%I FOR VALUES FROM (%L) TO (%L)',
                           current_schema(), current_schema(), part, hour, hour + interval '1 hour');
            made := made + 1;
        END IF;
        hour := hour + interval '1 hour';
    END LOOP;
    RETURN made;
END
$$;
-- +goose StatementEnd

-- Drop the hourly partitions whose every row is past its keep time, and
-- delete (in a bounded batch) the default partition's rows that are.
-- Returns the partitions dropped. A partition whose lock is not free
-- within 100ms is left for the next call.
-- +goose StatementBegin
CREATE FUNCTION pgqueue_history_prune() RETURNS integer
LANGUAGE plpgsql
SET search_path FROM CURRENT
SET TimeZone = 'UTC'
SET lock_timeout = '100ms'
AS $$
DECLARE
    part text;
    dropped integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext(current_schema() || '.pgqueue_job_history'));
    FOR part IN
        SELECT c.relname
        FROM pg_inherits AS i
        JOIN pg_class AS c ON c.oid = i.inhrelid
        WHERE i.inhparent = format('%I.pgqueue_job_history', current_schema())::regclass
          AND c.relname ~ '^pgqueue_job_history_[0-9]{10}$'
          AND to_timestamp(right(c.relname, 10), 'YYYYMMDDHH24') + interval '1 hour' <= now()
    LOOP
        BEGIN
            EXECUTE format('ALTER TABLE %I.pgqueue_job_history DETACH PARTITION %I.%I',
                           current_schema(), current_schema(), part);
            EXECUTE format('DROP TABLE %I.%I', current_schema(), part);
            dropped := dropped + 1;
        EXCEPTION WHEN lock_not_available THEN
            RETURN dropped;
        END;
    END LOOP;
    DELETE FROM pgqueue_job_history_default
    WHERE ctid = ANY (ARRAY(SELECT ctid FROM pgqueue_job_history_default
                            WHERE keep_until <= now() LIMIT 10000));
    RETURN dropped;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION pgqueue_history_prune();
DROP FUNCTION pgqueue_history_prepare(timestamptz);
DROP TABLE pgqueue_job_history;
ALTER TABLE pgqueue_dead_jobs DROP COLUMN output, DROP COLUMN progress;
ALTER TABLE pgqueue_jobs DROP COLUMN progress;
