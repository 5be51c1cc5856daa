-- Every queue that has waiting, scheduled or running jobs, or that is
-- paused or has global limits, with its pause time and limits (a queue
-- paused once and resumed, with no jobs, says nothing and is left out). Each state's queues are found by
-- skipping through that state's partial index (one probe per distinct
-- queue), never by scanning the table.
WITH RECURSIVE
available AS (
    (SELECT queue FROM {{jobs}} WHERE state = 'available' ORDER BY queue LIMIT 1)
    UNION ALL
    SELECT (SELECT j.queue FROM {{jobs}} j WHERE j.state = 'available' AND j.queue > a.queue ORDER BY j.queue LIMIT 1)
    FROM available a WHERE a.queue IS NOT NULL
),
scheduled AS (
    (SELECT queue FROM {{jobs}} WHERE state = 'scheduled' ORDER BY queue LIMIT 1)
    UNION ALL
    SELECT (SELECT j.queue FROM {{jobs}} j WHERE j.state = 'scheduled' AND j.queue > s.queue ORDER BY j.queue LIMIT 1)
    FROM scheduled s WHERE s.queue IS NOT NULL
),
running AS (
    (SELECT queue FROM {{jobs}} WHERE state = 'running' ORDER BY queue LIMIT 1)
    UNION ALL
    SELECT (SELECT j.queue FROM {{jobs}} j WHERE j.state = 'running' AND j.queue > r.queue ORDER BY j.queue LIMIT 1)
    FROM running r WHERE r.queue IS NOT NULL
),
names AS (
    SELECT queue FROM available WHERE queue IS NOT NULL
    UNION SELECT queue FROM scheduled WHERE queue IS NOT NULL
    UNION SELECT queue FROM running WHERE queue IS NOT NULL
    UNION SELECT name FROM {{queues}}
          WHERE paused_at IS NOT NULL OR max_running IS NOT NULL OR rate_limit IS NOT NULL
)
SELECT n.queue, q.paused_at, q.max_running, q.rate_limit, q.rate_burst
FROM names n LEFT JOIN {{queues}} q ON q.name = n.queue
ORDER BY n.queue
