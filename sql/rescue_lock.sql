-- Only one rescuer at a time per schema: the lock ends with the transaction.
SELECT pg_try_advisory_xact_lock($1)
