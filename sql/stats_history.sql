-- The per-minute stats from $1 (whose minute is included) to $2
-- (excluded), summed per step of $3 microseconds starting at $4 (the
-- first step's start), over the queues in $5 (every queue when empty):
-- one row per step that has any, oldest first. Bucket arrays are summed
-- element by element; percentiles are read from them in Go.
WITH picked AS (
    SELECT date_bin(make_interval(secs => $3::bigint / 1e6), minute, $4::timestamptz) AS at,
           completed, failed, dead, cancelled, lease_lost, run_buckets, wait_buckets
    FROM {{stats}}
    WHERE minute >= date_trunc('minute', $1::timestamptz) AND minute < $2
      AND (cardinality($5::text[]) = 0 OR queue = ANY ($5))
), counts AS (
    SELECT at, sum(completed) AS completed, sum(failed) AS failed, sum(dead) AS dead,
           sum(cancelled) AS cancelled, sum(lease_lost) AS lease_lost
    FROM picked GROUP BY at
), runs AS (
    SELECT p.at, b.i, sum(b.n) AS n
    FROM picked p, unnest(p.run_buckets) WITH ORDINALITY AS b (n, i) GROUP BY p.at, b.i
), waits AS (
    SELECT p.at, b.i, sum(b.n) AS n
    FROM picked p, unnest(p.wait_buckets) WITH ORDINALITY AS b (n, i) GROUP BY p.at, b.i
)
SELECT c.at, c.completed::bigint, c.failed::bigint, c.dead::bigint, c.cancelled::bigint, c.lease_lost::bigint,
       ARRAY(SELECT r.n::bigint FROM runs r WHERE r.at = c.at ORDER BY r.i),
       ARRAY(SELECT w.n::bigint FROM waits w WHERE w.at = c.at ORDER BY w.i)
FROM counts c
ORDER BY c.at
