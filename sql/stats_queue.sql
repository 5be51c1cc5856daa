-- Counts of one queue's jobs by state, each exact up to $2 (read from the
-- state's partial index and stopped there), and the due time of its
-- oldest available job (one index probe per priority).
-- $1 queue, $2 count cap.
SELECT
    (SELECT count(*) FROM (SELECT 1 FROM {{jobs}} WHERE state = 'available' AND queue = $1 LIMIT $2) a),
    (SELECT count(*) FROM (SELECT 1 FROM {{jobs}} WHERE state = 'scheduled' AND queue = $1 LIMIT $2) s),
    (SELECT count(*) FROM (SELECT 1 FROM {{jobs}} WHERE state = 'running' AND queue = $1 LIMIT $2) r),
    (SELECT min(oldest.run_at)
     FROM generate_series(1, 10) AS p(priority),
          LATERAL (SELECT run_at FROM {{jobs}}
                   WHERE state = 'available' AND queue = $1 AND priority = p.priority::smallint
                   ORDER BY run_at LIMIT 1) AS oldest),
    now()
