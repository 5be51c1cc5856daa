-- Whether the schema holds the pgqueue tables of this version: $1 and $2
-- are the quoted names of the jobs table and of a table the newest
-- migration creates, so a schema of an older version counts as not
-- migrated (run `pgqueue migrate up`).
SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL
