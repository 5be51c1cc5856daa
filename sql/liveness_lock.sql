-- Bind a client's liveness to this session: a session-level advisory lock
-- keyed by the schema's liveness key $1 and the hash of the client ID $2.
-- Shared, so that clients whose IDs hash alike never wait for each other:
-- a collision only keeps a dead client looking alive (its jobs then wait
-- for their leases), never the reverse. Released when the session ends.
SELECT pg_try_advisory_lock_shared($1::int4, hashtext($2::text))
