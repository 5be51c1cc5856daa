-- Whether the schema holds the pgqueue tables of this version: $1 is the
-- quoted name of the jobs table, and $2, $3 the quoted name of a table and
-- a column the newest migration that adds a column adds; migration 00014,
-- the newest, adds none but sets vacuum_truncate = false on the jobs table,
-- which is checked too. So a schema of an older version counts as not
-- migrated (run `pgqueue migrate up`).
SELECT to_regclass($1) IS NOT NULL
   AND EXISTS (SELECT 1 FROM pg_attribute
               WHERE attrelid = to_regclass($2) AND attname = $3 AND attnum > 0 AND NOT attisdropped)
   AND EXISTS (SELECT 1 FROM pg_class
               WHERE oid = to_regclass($1) AND reloptions @> ARRAY['vacuum_truncate=false'])
