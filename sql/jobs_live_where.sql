-- Which queue-table rows a JobFilter keeps (included by the
-- jobs_live_where marker): the shared filter, the states, and no finish
-- time bound (waiting and running jobs have not finished). $1 states,
-- $10 finished at or after, $11 finished before; see jobs_filter. The
-- overlap test is constant in a custom plan, so a filter naming only
-- state dead skips the queue table instead of scanning it.
WHERE ($1::text[] IS NULL OR ($1 && ARRAY['available', 'scheduled', 'running', 'waiting'] AND j.state = ANY($1)))
  AND $10::timestamptz IS NULL AND $11::timestamptz IS NULL
  AND {{jobs_filter}}
