-- Which dead letters a JobFilter keeps (included by the jobs_dead_where
-- marker): state dead or cancelled wanted (a cancelled dead letter's last
-- error has kind "cancelled"), the shared filter, and the finish (death)
-- time bounds. $1 states, $10 finished at or after, $11 finished before;
-- see jobs_filter.
WHERE ($1::text[] IS NULL
       OR ('dead' = ANY($1) AND 'cancelled' = ANY($1))
       OR ('dead' = ANY($1) AND (j.errors -> -1 ->> 'kind') IS DISTINCT FROM 'cancelled')
       OR ('cancelled' = ANY($1) AND (j.errors -> -1 ->> 'kind') = 'cancelled'))
  AND ($10::timestamptz IS NULL OR j.died_at >= $10)
  AND ($11::timestamptz IS NULL OR j.died_at < $11)
  AND {{jobs_filter}}
