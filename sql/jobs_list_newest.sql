-- One page of ListJobs, newest (highest ID) first: each table is walked
-- backwards on its primary key from the cursor, so the page costs the
-- rows read until $13 match, whatever the table's size. $12 the cursor
-- (exclusive; null = start), $13 the page size; $1..$11 see
-- jobs_live_where, jobs_dead_where,
-- jobs_history_where and jobs_filter.
SELECT * FROM (
    (SELECT {{jobs_list_columns}}
     FROM {{jobs}} AS j
     {{jobs_live_where}}
       AND ($12::bigint IS NULL OR j.id < $12)
     ORDER BY j.id DESC
     LIMIT $13)
    UNION ALL
    (SELECT {{jobs_dead_columns}}
     FROM {{dead}} AS j
     {{jobs_dead_where}}
       AND ($12::bigint IS NULL OR j.id < $12)
     ORDER BY j.id DESC
     LIMIT $13)
    UNION ALL
    (SELECT {{jobs_history_columns}}
     FROM {{history}} AS j
     {{jobs_history_where}}
       AND ($12::bigint IS NULL OR j.id < $12)
     ORDER BY j.id DESC
     LIMIT $13)
) AS page
ORDER BY 1 DESC
LIMIT $13
