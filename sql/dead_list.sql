-- Dead-lettered jobs matching the filters (null = any), newest first.
-- $1 kind, $2 queue, $3 ids, $4 died before, $5 died after, $6 limit.
SELECT id, kind, queue, priority, args, attempt, max_attempts, errors, created_at, died_at, metadata
FROM {{dead}}
{{dead_filter}}
ORDER BY died_at DESC, id DESC
LIMIT $6
