-- How many jobs a JobFilter matches, waiting, running, dead and completed.
-- $1..$11 see jobs_live_where, jobs_dead_where,
-- jobs_history_where and jobs_filter.
SELECT (SELECT count(*) FROM {{jobs}} AS j {{jobs_live_where}})
     + (SELECT count(*) FROM {{dead}} AS j {{jobs_dead_where}})
     + (SELECT count(*) FROM {{history}} AS j {{jobs_history_where}})
