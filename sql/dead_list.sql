-- Dead-lettered jobs matching the filters (null = any), newest first.
-- $1 kind, $2 queue, $3 ids, $4 died before, $5 died after, $6 limit.
SELECT id, kind, queue, priority, args, attempt, max_attempts, errors, created_at, died_at, metadata
FROM {{dead}}
WHERE ($1::text IS NULL OR kind = $1)
  AND ($2::text IS NULL OR queue = $2)
  AND ($3::bigint[] IS NULL OR id = ANY($3))
  AND ($4::timestamptz IS NULL OR died_at < $4)
  AND ($5::timestamptz IS NULL OR died_at > $5)
ORDER BY died_at DESC, id DESC
LIMIT $6
