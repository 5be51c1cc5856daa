-- Pause queue $1: no client claims from it until it is resumed. Pausing a
-- paused queue keeps its original pause time.
INSERT INTO {{queues}} AS q (name, paused_at) VALUES ($1, now())
ON CONFLICT (name) DO UPDATE
SET paused_at = coalesce(q.paused_at, excluded.paused_at), updated_at = now()
