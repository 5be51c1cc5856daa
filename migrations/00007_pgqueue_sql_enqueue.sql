-- pgqueue schema, version 7: enqueue from SQL.
--
-- pgqueue_enqueue(...) and pgqueue_enqueue_many(jobs jsonb) let anything
-- that runs SQL (psql, another language's driver, a trigger) enqueue a job
-- in its own transaction, with the validation, unique keys and wake-up of
-- EnqueueTx. They are SECURITY DEFINER, so a producer-only role needs
-- USAGE on the schema and EXECUTE on them, and nothing on the tables.
-- Their search_path is pinned to this schema, then pg_catalog, then
-- pg_temp (last, so a caller's temporary table or function can never
-- stand in for ours); the schema is only known now, so the pin is set by
-- the DO block at the end of Up.
--
-- Validation errors: SQLSTATE 22023 (invalid_parameter_value), the message
-- of Go's *ValidationError ("pgqueue: invalid job: Priority: 11 is outside
-- 1..10"; "job 3: ..." in a batch), and the SQL parameter (or JSON key)
-- in the error's COLUMN field. Nothing is stored.

-- +goose Up

-- The limits of validate.go, names.go and pgqueue.go as one constant.
-- TestSQLLimitsMatchGo compares every entry with the Go constants, so the
-- two cannot drift. A jsonb literal (not jsonb_build_object, which is
-- only STABLE) keeps the function IMMUTABLE, so callers fold it into a
-- constant.
-- +goose StatementBegin
CREATE FUNCTION pgqueue_limits() RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT '{
        "max_kind_bytes": 255,
        "max_queue_bytes": 128,
        "queue_name_pattern": "^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}$",
        "queue_name_rule": "must be 1-128 letters, digits, ''_'', ''.'', '':'' or ''-'', not starting with ''.'', '':'' or ''-''",
        "default_queue": "default",
        "min_priority": 1,
        "max_priority": 10,
        "default_priority": 5,
        "max_attempts_limit": 2147483647,
        "default_max_attempts": 25,
        "max_run_at_year": 2200,
        "max_args_bytes": 1048576,
        "max_unique_key_bytes": 512,
        "max_metadata_key_bytes": 255,
        "max_metadata_bytes": 8192
    }'::jsonb
$$;
-- +goose StatementEnd

-- The channel of this schema, now the same as Go's notifyChannel for every
-- schema name: names too long for "pgqueue.<schema>" to fit in 63 bytes
-- get "pgqueue.<FNV-1a 64 of the name, in hex>", as in postgres.go, where
-- version 2 returned NULL (no wake-up) for them.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION pgqueue_notify_channel() RETURNS text
LANGUAGE plpgsql STABLE
SET search_path FROM CURRENT
AS $$
DECLARE
    name bytea;
    h numeric := 14695981039346656037; -- FNV-1a 64 offset basis
BEGIN
    IF octet_length('pgqueue.' || current_schema()) <= 63 THEN
        RETURN 'pgqueue.' || current_schema();
    END IF;
    name := convert_to(current_schema(), 'UTF8');
    FOR i IN 0 .. length(name) - 1 LOOP
        -- xor the byte into the low 8 bits, then multiply modulo 2^64.
        h := h - mod(h, 256) + (mod(h, 256)::int # get_byte(name, i));
        h := mod(h * 1099511628211, 18446744073709551616);
    END LOOP;
    -- to_hex prints a bigint as its unsigned 64 bits, as Go's %x does.
    IF h >= 9223372036854775808 THEN
        h := h - 18446744073709551616;
    END IF;
    RETURN 'pgqueue.' || to_hex(h::bigint);
END
$$;
-- +goose StatementEnd

-- Why a job is refused, as {column, message}, or NULL when it is valid.
-- Shared by both enqueue functions so they cannot disagree. The checks
-- and their messages follow prepareOne, kindOf, checkQueueName,
-- checkText and checkMetadata; NUL bytes and invalid UTF-8 need no check
-- here, since text and jsonb cannot hold them. It is SECURITY INVOKER
-- without a pinned search_path on purpose: only the enqueue functions
-- (whose path is pinned) may call it, and a SET clause would cost a
-- configuration change per row of a batch.
-- +goose StatementBegin
CREATE FUNCTION pgqueue_job_error(kind text, args jsonb, queue text, priority numeric,
                                  run_at timestamptz, max_attempts numeric,
                                  unique_key text, metadata jsonb) RETURNS text[]
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    lim constant jsonb := pgqueue_limits();
    job constant text := 'pgqueue: invalid job: ';
    n bigint;
    total bigint := 0;
    k text;
    v jsonb;
BEGIN
    IF kind IS NULL OR kind = '' THEN
        RETURN ARRAY['kind', job || 'Kind: must not be empty'];
    END IF;
    n := octet_length(kind);
    IF n > (lim->>'max_kind_bytes')::int THEN
        RETURN ARRAY['kind', format('%sKind: is %s bytes long; the limit is %s', job, n, lim->>'max_kind_bytes')];
    END IF;
    -- NULL and '' mean the default queue, as "" does in Go.
    IF queue <> '' AND queue !~ (lim->>'queue_name_pattern') THEN
        RETURN ARRAY['queue', format('pgqueue: invalid queue name: %s %s', to_jsonb(queue), lim->>'queue_name_rule')];
    END IF;
    -- NULL and 0 mean the default priority, as 0 does in Go.
    IF priority <> trunc(priority) THEN
        RETURN ARRAY['priority', format('%sPriority: must be a whole number, got %s', job, priority)];
    END IF;
    IF priority <> 0 AND (priority < (lim->>'min_priority')::int OR priority > (lim->>'max_priority')::int) THEN
        RETURN ARRAY['priority', format('%sPriority: %s is outside %s..%s', job, priority, lim->>'min_priority', lim->>'max_priority')];
    END IF;
    IF max_attempts <> trunc(max_attempts) THEN
        RETURN ARRAY['max_attempts', format('%sMaxAttempts: must be a whole number, got %s', job, max_attempts)];
    END IF;
    IF max_attempts < 0 THEN
        RETURN ARRAY['max_attempts', format('%sMaxAttempts: must not be negative, got %s', job, max_attempts)];
    END IF;
    IF max_attempts > (lim->>'max_attempts_limit')::bigint THEN
        RETURN ARRAY['max_attempts', format('%sMaxAttempts: %s exceeds the limit of %s', job, max_attempts, lim->>'max_attempts_limit')];
    END IF;
    -- Compared in UTC, as Go's maxRunAt and minRunAt; this also refuses
    -- 'infinity' and '-infinity'.
    IF run_at >= make_timestamptz((lim->>'max_run_at_year')::int, 1, 1, 0, 0, 0, 'UTC')
       OR run_at < make_timestamptz(1, 1, 1, 0, 0, 0, 'UTC') THEN
        RETURN ARRAY['run_at', format('%sRunAt: %s is outside the years 1 to %s that every backend stores',
                                      job, run_at, (lim->>'max_run_at_year')::int - 1)];
    END IF;
    IF args IS NULL OR args = 'null' THEN
        RETURN ARRAY['args', job || 'args: must not be null'];
    END IF;
    IF jsonb_typeof(args) <> 'object' THEN
        RETURN ARRAY['args', format('%sargs: %s: must encode as a JSON object, got %s', job, kind, left(args::text, 40))];
    END IF;
    -- Measured on jsonb's text form, which is what a worker decodes.
    n := octet_length(args::text);
    IF n > (lim->>'max_args_bytes')::bigint THEN
        RETURN ARRAY['args', format('%sargs: %s: encoded size %s bytes exceeds the %s byte limit', job, kind, n, lim->>'max_args_bytes')];
    END IF;
    -- Go derives a key only when asked to; SQL has no derivation, so an
    -- empty key is a mistake (NULL means "not unique").
    IF unique_key = '' THEN
        RETURN ARRAY['unique_key', job || 'Unique.Key: must not be empty (pass NULL for a job that is not unique)'];
    END IF;
    n := octet_length(unique_key);
    IF n > (lim->>'max_unique_key_bytes')::int THEN
        RETURN ARRAY['unique_key', format('%sUnique.Key: is %s bytes long; the limit is %s', job, n, lim->>'max_unique_key_bytes')];
    END IF;
    IF metadata IS NOT NULL AND metadata <> 'null' THEN
        IF jsonb_typeof(metadata) <> 'object' THEN
            RETURN ARRAY['metadata', format('%sMetadata: must be a JSON object of string values, got %s', job, jsonb_typeof(metadata))];
        END IF;
        FOR k, v IN SELECT e.key, e.value FROM jsonb_each(metadata) AS e ORDER BY e.key LOOP
            IF k = '' THEN
                RETURN ARRAY['metadata', job || 'Metadata: keys must not be empty'];
            END IF;
            n := octet_length(k);
            IF n > (lim->>'max_metadata_key_bytes')::int THEN
                RETURN ARRAY['metadata', format('%sMetadata key: is %s bytes long; the limit is %s', job, n, lim->>'max_metadata_key_bytes')];
            END IF;
            IF jsonb_typeof(v) <> 'string' THEN
                RETURN ARRAY['metadata', format('%sMetadata[%s]: must be a JSON string, got %s', job, to_jsonb(k), jsonb_typeof(v))];
            END IF;
            total := total + n + octet_length(v #>> '{}');
        END LOOP;
        IF total > (lim->>'max_metadata_bytes')::int THEN
            RETURN ARRAY['metadata', format('%sMetadata: keys and values total %s bytes; the limit is %s', job, total, lim->>'max_metadata_bytes')];
        END IF;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- Why one element of pgqueue_enqueue_many's array is refused, or NULL:
-- its JSON shape first (an object of known keys with values of the right
-- JSON types), then pgqueue_job_error. Same calling rules as that one.
-- +goose StatementBegin
CREATE FUNCTION pgqueue_job_json_error(j jsonb) RETURNS text[]
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    job constant text := 'pgqueue: invalid job: ';
    want constant jsonb := '{"kind": "string", "args": "object", "queue": "string", "priority": "number",
                             "run_at": "string", "max_attempts": "number", "unique_key": "string",
                             "metadata": "object"}';
    k text;
    v jsonb;
    at timestamptz;
BEGIN
    IF jsonb_typeof(j) <> 'object' THEN
        RETURN ARRAY['jobs', format('%sjobs: each job must be a JSON object, got %s', job, jsonb_typeof(j))];
    END IF;
    FOR k, v IN SELECT e.key, e.value FROM jsonb_each(j) AS e LOOP
        IF NOT want ? k THEN
            -- A misspelt option must not silently fall back to its default.
            RETURN ARRAY['jobs', format('%sjobs: unknown key %s (known: kind, args, queue, priority, run_at, max_attempts, unique_key, metadata)',
                                        job, to_jsonb(k))];
        END IF;
        -- JSON null is the same as leaving the key out (the default), but
        -- args must be an object and metadata an object: both report their
        -- own, clearer, error below.
        IF jsonb_typeof(v) <> 'null' AND jsonb_typeof(v) <> want->>k AND k NOT IN ('args', 'metadata') THEN
            RETURN ARRAY[k, format('%s%s: must be a JSON %s, got %s', job, k, want->>k, jsonb_typeof(v))];
        END IF;
    END LOOP;
    IF j->>'run_at' IS NOT NULL THEN
        BEGIN
            at := (j->>'run_at')::timestamptz;
        EXCEPTION WHEN data_exception THEN
            RETURN ARRAY['run_at', format('%sRunAt: %s is not a timestamp: %s', job, to_jsonb(j->>'run_at'), SQLERRM)];
        END;
    END IF;
    RETURN pgqueue_job_error(j->>'kind', coalesce(j->'args', '{}'), j->>'queue', (j->>'priority')::numeric,
                             at, (j->>'max_attempts')::numeric, j->>'unique_key', j->'metadata');
END
$$;
-- +goose StatementEnd

-- Enqueue one job; returns its ID. Arguments as EnqueueOptions: NULL (or
-- 0, or '' for the queue) means the default. A job whose unique key is
-- held by a waiting or running job is not stored, and the holder's ID is
-- returned instead (pgqueue_enqueue_many tells the two apart). A due job
-- wakes its queue with one NOTIFY, delivered at commit; Postgres folds
-- repeats within a transaction, so many calls still send one per queue.
--   SELECT pgqueue_enqueue('send_receipt', jsonb_build_object('order_id', 42));
--   SELECT pgqueue_enqueue(kind => 'report', queue => 'batch', run_at => now() + interval '1 hour');
-- +goose StatementBegin
CREATE FUNCTION pgqueue_enqueue(kind text, args jsonb DEFAULT '{}', queue text DEFAULT 'default',
                                priority int DEFAULT NULL, run_at timestamptz DEFAULT NULL,
                                max_attempts int DEFAULT NULL, unique_key text DEFAULT NULL,
                                metadata jsonb DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
AS $$
#variable_conflict use_column
DECLARE
    lim constant jsonb := pgqueue_limits();
    bad text[];
    q text;
    new_id bigint;
    st text;
    ch text;
BEGIN
    bad := pgqueue_job_error(pgqueue_enqueue.kind, pgqueue_enqueue.args, pgqueue_enqueue.queue,
                             pgqueue_enqueue.priority, pgqueue_enqueue.run_at, pgqueue_enqueue.max_attempts,
                             pgqueue_enqueue.unique_key, pgqueue_enqueue.metadata);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = bad[2], COLUMN = bad[1];
    END IF;
    q := coalesce(nullif(pgqueue_enqueue.queue, ''), lim->>'default_queue');
    IF pgqueue_enqueue.unique_key IS NULL THEN
        -- No speculative insertion for the common case: it costs.
        INSERT INTO pgqueue_jobs AS j (state, queue, kind, priority, args, max_attempts, run_at, metadata)
        VALUES (CASE WHEN coalesce(pgqueue_enqueue.run_at, now()) <= now() THEN 'available' ELSE 'scheduled' END,
                q, pgqueue_enqueue.kind,
                coalesce(nullif(pgqueue_enqueue.priority, 0), (lim->>'default_priority')::int),
                pgqueue_enqueue.args,
                coalesce(nullif(pgqueue_enqueue.max_attempts, 0), (lim->>'default_max_attempts')::int),
                coalesce(pgqueue_enqueue.run_at, now()),
                nullif(nullif(pgqueue_enqueue.metadata, 'null'), '{}'))
        RETURNING j.id, j.state INTO new_id, st;
    ELSE
        -- The holder may finish between our insert and our look-up, which
        -- frees the key: then try again (a few times, against a holder
        -- that keeps finishing; after that, NULL says "no job stored").
        FOR attempt IN 1 .. 3 LOOP
            INSERT INTO pgqueue_jobs AS j (state, queue, kind, priority, args, max_attempts, run_at, unique_key, metadata)
            VALUES (CASE WHEN coalesce(pgqueue_enqueue.run_at, now()) <= now() THEN 'available' ELSE 'scheduled' END,
                    q, pgqueue_enqueue.kind,
                    coalesce(nullif(pgqueue_enqueue.priority, 0), (lim->>'default_priority')::int),
                    pgqueue_enqueue.args,
                    coalesce(nullif(pgqueue_enqueue.max_attempts, 0), (lim->>'default_max_attempts')::int),
                    coalesce(pgqueue_enqueue.run_at, now()),
                    pgqueue_enqueue.unique_key,
                    nullif(nullif(pgqueue_enqueue.metadata, 'null'), '{}'))
            ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING
            RETURNING j.id, j.state INTO new_id, st;
            IF new_id IS NOT NULL THEN
                EXIT;
            END IF;
            -- A new statement, so a new snapshot: it sees a holder that
            -- committed after the insert's snapshot was taken.
            SELECT j.id INTO new_id FROM pgqueue_jobs AS j WHERE j.unique_key = pgqueue_enqueue.unique_key;
            IF new_id IS NOT NULL THEN
                RETURN new_id;
            END IF;
        END LOOP;
    END IF;
    IF st = 'available' THEN
        ch := pgqueue_notify_channel();
        IF ch IS NOT NULL THEN
            PERFORM pg_notify(ch, q);
        END IF;
    END IF;
    RETURN new_id;
END
$$;
-- +goose StatementEnd

-- Enqueue many jobs in one statement. jobs is a JSON array of objects with
-- the keys of pgqueue_enqueue's arguments (kind is required; a missing or
-- null key means the default). Returns one row per job, in input order:
-- the new job's ID and duplicate = false, or, for a job whose unique key
-- was held (by an earlier job of the same array, too), the holder's ID and
-- duplicate = true (the ID is NULL if the holder finished meanwhile).
-- All are checked before any is stored: one bad job refuses the call
-- ("job 3: ..."). One NOTIFY per queue that received a due job.
--   SELECT * FROM pgqueue_enqueue_many('[{"kind": "a", "args": {"n": 1}}, {"kind": "b", "queue": "q2"}]');
-- +goose StatementBegin
CREATE FUNCTION pgqueue_enqueue_many(jobs jsonb) RETURNS TABLE (id bigint, duplicate boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
AS $$
#variable_conflict use_column
DECLARE
    lim constant jsonb := pgqueue_limits();
    bad text[];
    bad_at bigint;
    ids bigint[];
    stored boolean[];
    keys text[];
    due text[];
    ch text;
BEGIN
    IF jobs IS NULL OR jsonb_typeof(jobs) <> 'array' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', COLUMN = 'jobs',
            MESSAGE = format('pgqueue: invalid job: jobs: must be a JSON array of jobs, got %s', coalesce(jsonb_typeof(jobs), 'NULL'));
    END IF;
    IF jsonb_array_length(jobs) = 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', COLUMN = 'jobs',
            MESSAGE = 'pgqueue: invalid job: jobs: no jobs given';
    END IF;
    -- Check every job before storing any; report the first bad one by its
    -- 0-based index, as EnqueueManyTx does.
    SELECT e.ord - 1, x.err INTO bad_at, bad
    FROM jsonb_array_elements(jobs) WITH ORDINALITY AS e(j, ord),
         LATERAL (SELECT pgqueue_job_json_error(e.j) AS err) AS x
    WHERE x.err IS NOT NULL
    ORDER BY e.ord LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', COLUMN = bad[1],
            MESSAGE = format('job %s: %s', bad_at, bad[2]);
    END IF;

    -- One INSERT for the whole array. IDs are drawn before the insert, so
    -- each result row is matched to its input by ID, not by order.
    WITH input AS MATERIALIZED (
        SELECT e.ord,
               nextval('pgqueue_jobs_id_seq') AS new_id,
               e.j->>'kind' AS kind,
               coalesce(nullif(e.j->'args', 'null'), '{}') AS args,
               coalesce(nullif(e.j->>'queue', ''), lim->>'default_queue') AS queue,
               coalesce(nullif((e.j->>'priority')::numeric, 0), (lim->>'default_priority')::int)::smallint AS priority,
               coalesce(nullif((e.j->>'max_attempts')::numeric, 0), (lim->>'default_max_attempts')::int)::integer AS max_attempts,
               (e.j->>'run_at')::timestamptz AS run_at,
               e.j->>'unique_key' AS unique_key,
               nullif(nullif(e.j->'metadata', 'null'), '{}') AS metadata
        FROM jsonb_array_elements(jobs) WITH ORDINALITY AS e(j, ord)
    ), ins AS (
        INSERT INTO pgqueue_jobs AS j (id, state, queue, kind, priority, args, max_attempts, run_at, unique_key, metadata)
        SELECT i.new_id,
               CASE WHEN coalesce(i.run_at, now()) <= now() THEN 'available' ELSE 'scheduled' END,
               i.queue, i.kind, i.priority, i.args, i.max_attempts, coalesce(i.run_at, now()), i.unique_key, i.metadata
        FROM input AS i
        ORDER BY i.ord
        ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING
        RETURNING j.id, j.queue, j.state
    )
    SELECT array_agg(i.new_id ORDER BY i.ord),
           array_agg(ins.id IS NOT NULL ORDER BY i.ord),
           array_agg(i.unique_key ORDER BY i.ord),
           array_agg(DISTINCT ins.queue) FILTER (WHERE ins.state = 'available')
    INTO ids, stored, keys, due
    FROM input AS i LEFT JOIN ins ON ins.id = i.new_id;

    IF due IS NOT NULL THEN
        ch := pgqueue_notify_channel();
        IF ch IS NOT NULL THEN
            PERFORM pg_notify(ch, d) FROM unnest(due) AS d;
        END IF;
    END IF;

    -- Duplicates' holders, read by a new statement (a new snapshot, which
    -- sees holders committed after the insert began).
    RETURN QUERY
    SELECT CASE WHEN u.stored THEN u.id
                ELSE (SELECT h.id FROM pgqueue_jobs AS h WHERE h.unique_key = u.key) END,
           NOT u.stored
    FROM unnest(ids, stored, keys) WITH ORDINALITY AS u(id, stored, key, ord)
    ORDER BY u.ord;
END
$$;
-- +goose StatementEnd

-- Pin the search_path of the SECURITY DEFINER functions to this schema
-- (quoted, whatever its name), and let nobody but the owner run any of
-- the new functions until granted: see "Enqueue from SQL" in the README.
-- +goose StatementBegin
DO $pin$
BEGIN
    IF current_schema() IS NULL THEN
        RAISE EXCEPTION 'pgqueue: no schema to pin the enqueue functions to: the search_path names none that exists';
    END IF;
    EXECUTE format('ALTER FUNCTION pgqueue_enqueue(text, jsonb, text, integer, timestamptz, integer, text, jsonb) SET search_path = %I, pg_catalog, pg_temp', current_schema());
    EXECUTE format('ALTER FUNCTION pgqueue_enqueue_many(jsonb) SET search_path = %I, pg_catalog, pg_temp', current_schema());
END
$pin$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION pgqueue_limits() FROM PUBLIC;
REVOKE ALL ON FUNCTION pgqueue_job_error(text, jsonb, text, numeric, timestamptz, numeric, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgqueue_job_json_error(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgqueue_enqueue(text, jsonb, text, integer, timestamptz, integer, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgqueue_enqueue_many(jsonb) FROM PUBLIC;

-- +goose Down
DROP FUNCTION pgqueue_enqueue_many(jsonb);
DROP FUNCTION pgqueue_enqueue(text, jsonb, text, integer, timestamptz, integer, text, jsonb);
DROP FUNCTION pgqueue_job_json_error(jsonb);
DROP FUNCTION pgqueue_job_error(text, jsonb, text, numeric, timestamptz, numeric, text, jsonb);
DROP FUNCTION pgqueue_limits();
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION pgqueue_notify_channel() RETURNS text
LANGUAGE sql STABLE
SET search_path FROM CURRENT
AS $$
    SELECT CASE WHEN octet_length('pgqueue.' || current_schema()) <= 63
                THEN 'pgqueue.' || current_schema() END
$$;
-- +goose StatementEnd
