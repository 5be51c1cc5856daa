-- Whether the schema holds the pgqueue tables: $1 and $2 are the quoted
-- names of the jobs and queues tables (the queues table came with
-- version 2, so an older schema counts as not migrated).
SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL
