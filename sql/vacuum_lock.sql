-- One vacuumer at a time per schema. VACUUM cannot run inside a
-- transaction, so this is a session lock, released by vacuum_unlock.sql
-- (or by the session ending). $1 lock key.
SELECT pg_try_advisory_lock($1)
