-- periodic_tick for a schema before version 9, which has no next_tick.
-- Record that tick $2 of periodic job $1 is being enqueued, unless a
-- client already recorded it (or a later one): then no row comes back.
-- Runs in the same transaction as the job's insert.
INSERT INTO {{periodic}} AS p (name, last_tick) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE
SET last_tick = excluded.last_tick, updated_at = now()
WHERE p.last_tick < excluded.last_tick
RETURNING name
