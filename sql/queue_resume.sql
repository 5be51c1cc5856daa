-- Resume queue $1 and wake its workers; returns whether it was paused.
-- $2 notify channel.
WITH resumed AS (
    UPDATE {{queues}}
    SET paused_at = NULL, updated_at = now()
    WHERE name = $1 AND paused_at IS NOT NULL
    RETURNING name
)
SELECT count(*) > 0, count(pg_notify($2, name)) FROM resumed
