-- One page of ListJobs, oldest (lowest ID) first: jobs_list_newest
-- walking forwards. $12 the cursor (exclusive; null = start), $13 the page
-- size; $1..$11 see jobs_live_where, jobs_dead_where,
-- jobs_history_where and jobs_filter.
SELECT * FROM (
    (SELECT {{jobs_list_columns}}
     FROM {{jobs}} AS j
     {{jobs_live_where}}
       AND ($12::bigint IS NULL OR j.id > $12)
     ORDER BY j.id
     LIMIT $13)
    UNION ALL
    (SELECT {{jobs_dead_columns}}
     FROM {{dead}} AS j
     {{jobs_dead_where}}
       AND ($12::bigint IS NULL OR j.id > $12)
     ORDER BY j.id
     LIMIT $13)
    UNION ALL
    (SELECT {{jobs_history_columns}}
     FROM {{history}} AS j
     {{jobs_history_where}}
       AND ($12::bigint IS NULL OR j.id > $12)
     ORDER BY j.id
     LIMIT $13)
) AS page
ORDER BY 1
LIMIT $13
