-- The clients seen within the last $1 seconds, by ID.
SELECT id, host, pid, version, queues, periodic, liveness, started_at, last_seen
FROM {{clients}}
WHERE last_seen >= now() - make_interval(secs => $1)
ORDER BY id
