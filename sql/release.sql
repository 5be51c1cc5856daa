-- Put back, in one statement, jobs this client claimed ahead and never
-- started (Stop began while they waited for a worker): what reschedule.sql
-- does for one job with no delay, the attempt given back and its run_at
-- kept (its place in the queue and its scheduled time), for many,
-- with one NOTIFY per queue rather than one per job (NOTIFY serialises
-- committing transactions, so a release per job made Stop wait for
-- hundreds of them in a row). A job whose lease was lost meanwhile is
-- left alone and not returned.
-- $1 ids, $2 tokens, $3 notify channel.
WITH back AS (
    UPDATE {{jobs}} AS j
    SET state       = 'available',
        attempt     = greatest(j.attempt - 1, 0),
        lease_until = NULL,
        claimed_by  = NULL
    FROM unnest($1::bigint[], $2::bigint[]) AS r(id, token)
    WHERE j.id = r.id AND j.lease_token = r.token AND j.state = 'running'
    RETURNING j.id, j.queue
)
SELECT array(SELECT id FROM back),
       (SELECT count(pg_notify($3, q)) FROM (SELECT DISTINCT queue AS q FROM back) AS d)
