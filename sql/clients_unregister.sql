-- Remove client $1's row.
DELETE FROM {{clients}} WHERE id = $1
