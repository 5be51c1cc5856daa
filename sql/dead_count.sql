-- How many dead letters match the filters (null = any).
-- $1 kind, $2 queue, $3 ids, $4 died before, $5 died after.
SELECT count(*)
FROM {{dead}}
{{dead_filter}}
