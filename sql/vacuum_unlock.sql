-- Release vacuum_lock.sql's session lock. $1 lock key.
SELECT pg_advisory_unlock($1)
