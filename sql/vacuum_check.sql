-- Dead and live row counts of the jobs table from the statistics
-- collector, and how long ago it was last vacuumed (null: never).
-- $1 the table's quoted name.
SELECT n_dead_tup, n_live_tup,
       extract(epoch FROM now() - greatest(last_vacuum, last_autovacuum))
FROM pg_stat_user_tables
WHERE relid = to_regclass($1)
