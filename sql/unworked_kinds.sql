-- Kinds of due jobs in queue $1 that no worker of this client handles
-- (kind not in $2) and that have waited more than $3 microseconds, with
-- how many (at most $4 jobs are looked at). Another deployment may own
-- these kinds; this is only for logging.
SELECT kind, count(*)
FROM (
    SELECT kind
    FROM {{jobs}}
    WHERE state = 'available' AND queue = $1 AND kind <> ALL($2::text[])
      AND run_at < now() - $3::bigint * interval '1 microsecond'
    LIMIT $4
) AS waiting
GROUP BY kind
ORDER BY kind
