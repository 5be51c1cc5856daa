-- Delete dead-lettered jobs matching the filters (null = any).
-- $1 kind, $2 queue, $3 ids, $4 died before, $5 died after.
DELETE FROM {{dead}}
{{dead_filter}}
