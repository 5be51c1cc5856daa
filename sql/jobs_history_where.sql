-- Which history rows a JobFilter keeps (included by the
-- jobs_history_where marker): state completed wanted, the shared filter,
-- and the finish time bounds. $1 states, $10 finished at or after, $11
-- finished before; see jobs_filter. A filter that does not name state
-- completed skips the history (the test is constant in a custom plan).
WHERE ($1::text[] IS NULL OR 'completed' = ANY($1))
  AND ($10::timestamptz IS NULL OR j.finished_at >= $10)
  AND ($11::timestamptz IS NULL OR j.finished_at < $11)
  AND {{jobs_filter}}
