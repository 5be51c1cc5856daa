-- Put a running job back: available now ($3 <= 0) or scheduled $3
-- microseconds from now; append error $4 (when not null) to its history;
-- give back the attempt when $5; keep the job's run_at when $7 and it is
-- put back available (a release of a job that never ran keeps its place
-- and its scheduled time). Wakes the queue when it is available.
-- $1 id, $2 token, $6 notify channel.
WITH back AS (
    UPDATE {{jobs}}
    SET state       = CASE WHEN $3::bigint <= 0 THEN 'available' ELSE 'scheduled' END,
        run_at      = CASE WHEN $7::boolean AND $3::bigint <= 0 THEN run_at
                           ELSE now() + greatest($3::bigint, 0) * interval '1 microsecond' END,
        errors      = CASE WHEN $4::jsonb IS NULL THEN errors
                           ELSE coalesce(errors, '[]'::jsonb) || jsonb_build_array($4::jsonb) END,
        attempt     = CASE WHEN $5::boolean THEN greatest(attempt - 1, 0) ELSE attempt END,
        lease_until = NULL,
        claimed_by  = NULL
    WHERE id = $1 AND lease_token = $2 AND state = 'running'
    RETURNING queue, state
)
SELECT (SELECT count(*) FROM back),
       (SELECT count(pg_notify($6, queue)) FROM back WHERE state = 'available')
