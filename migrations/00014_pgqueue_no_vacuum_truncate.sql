-- pgqueue schema, version 14: vacuums of the jobs table never truncate it.

-- +goose Up

-- A vacuum that finds empty pages at the end of a table tries to cut them
-- off, which needs the table's ACCESS EXCLUSIVE lock: it waits for that
-- lock for up to 5 s (locking out every claim and insert once it has it,
-- and replaying the lock on standbys). A queue's table empties its tail
-- and fills it again many times a second during a drain, so the truncation
-- buys nothing, and the wait stretched the client's own vacuums from a
-- fifth of a second to over 5 s, letting dead rows pile up meanwhile.
-- With this setting neither autovacuum nor a plain VACUUM truncates it.
ALTER TABLE pgqueue_jobs SET (vacuum_truncate = false);

-- +goose Down
ALTER TABLE pgqueue_jobs RESET (vacuum_truncate);
