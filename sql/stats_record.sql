-- Add one client's rollup rows to the per-minute stats, in one statement
-- however many rows: $1..$8 are the rows' minutes, queues, kinds and
-- outcome counts, one array element per row, and $9 and $10 their run and
-- wait bucket counts, $11 per row, flattened into one array each (unnest
-- cannot hand out rows of a two-dimensional array), sliced back per row
-- by its ordinality. A row another client already wrote for the same
-- minute, queue and kind gets the counts added, bucket by bucket. The
-- rows' keys are distinct (a statement cannot update a row twice), and
-- sorted, so that clients writing the same minute lock its rows in one
-- order and never deadlock.
INSERT INTO {{stats}} AS s (minute, queue, kind, completed, failed, dead, cancelled, lease_lost, run_buckets, wait_buckets)
SELECT r.minute, r.queue, r.kind, r.completed, r.failed, r.dead, r.cancelled, r.lease_lost,
       ($9::bigint[])[(r.n - 1) * $11 + 1 : r.n * $11],
       ($10::bigint[])[(r.n - 1) * $11 + 1 : r.n * $11]
FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[])
     WITH ORDINALITY AS r (minute, queue, kind, completed, failed, dead, cancelled, lease_lost, n)
ON CONFLICT (minute, queue, kind) DO UPDATE
SET completed    = s.completed + excluded.completed,
    failed       = s.failed + excluded.failed,
    dead         = s.dead + excluded.dead,
    cancelled    = s.cancelled + excluded.cancelled,
    lease_lost   = s.lease_lost + excluded.lease_lost,
    run_buckets  = ARRAY(SELECT coalesce(a, 0) + coalesce(b, 0)
                         FROM unnest(s.run_buckets, excluded.run_buckets) WITH ORDINALITY AS x (a, b, i) ORDER BY i),
    wait_buckets = ARRAY(SELECT coalesce(a, 0) + coalesce(b, 0)
                         FROM unnest(s.wait_buckets, excluded.wait_buckets) WITH ORDINALITY AS x (a, b, i) ORDER BY i)
