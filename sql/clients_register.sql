-- Register client $1 (host $2, pid $3, version $4, queues $5 as a JSON
-- object of queue -> max workers, periodic job names $6, whether it binds
-- liveness $8), replacing any row of the same ID, and delete the rows not
-- seen for $7 seconds.
WITH pruned AS (
    DELETE FROM {{clients}} WHERE last_seen < now() - make_interval(secs => $7) AND id <> $1
)
INSERT INTO {{clients}} (id, host, pid, version, queues, periodic, liveness, started_at, last_seen)
VALUES ($1, $2, $3, $4, $5, $6, $8, now(), now())
ON CONFLICT (id) DO UPDATE
SET host = excluded.host, pid = excluded.pid, version = excluded.version,
    queues = excluded.queues, periodic = excluded.periodic, liveness = excluded.liveness,
    started_at = excluded.started_at, last_seen = excluded.last_seen
