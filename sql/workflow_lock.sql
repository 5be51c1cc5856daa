-- Take the schema's workflow sweep lock for the rest of the transaction,
-- if no other client holds it: one failure sweep at a time. $1 the lock
-- key.
SELECT pg_try_advisory_xact_lock($1)
