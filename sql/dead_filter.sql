-- The dead-letter filter of DeadFilter, shared by dead_list, dead_count,
-- dead_purge and dead_requeue (included by the dead_filter marker): null
-- parameters match anything; the died_at bounds are strict.
-- $1 kind, $2 queue, $3 ids, $4 died before, $5 died after.
WHERE ($1::text IS NULL OR kind = $1)
  AND ($2::text IS NULL OR queue = $2)
  AND ($3::bigint[] IS NULL OR id = ANY($3))
  AND ($4::timestamptz IS NULL OR died_at < $4)
  AND ($5::timestamptz IS NULL OR died_at > $5)
