-- How many jobs a JobFilter matches, waiting, running and dead.
-- $1..$11 see jobs_live_where, jobs_dead_where and jobs_filter.
SELECT (SELECT count(*) FROM {{jobs}} AS j {{jobs_live_where}})
     + (SELECT count(*) FROM {{dead}} AS j {{jobs_dead_where}})
