-- Record that tick $2 of periodic job $1 is being enqueued, with $3, the
-- next tick the recording client's schedule expects (null: unknown),
-- unless a client already recorded it (or a later one): then no row comes
-- back. Runs in the same transaction as the job's insert. A schema before
-- version 9 has no next_tick: periodic_tick_before_9 is used there.
INSERT INTO {{periodic}} AS p (name, last_tick, next_tick) VALUES ($1, $2, $3)
ON CONFLICT (name) DO UPDATE
SET last_tick = excluded.last_tick, next_tick = excluded.next_tick, updated_at = now()
WHERE p.last_tick < excluded.last_tick
RETURNING name
