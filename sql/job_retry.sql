-- Make a waiting job (available, or scheduled for later or for a retry)
-- due now, and wake its queue. $1 id, $2 notify channel.
WITH due AS (
    UPDATE {{jobs}}
    SET state = 'available', run_at = now()
    WHERE id = $1 AND state IN ('available', 'scheduled')
    RETURNING queue
)
SELECT count(*), count(pg_notify($2, queue)) FROM due
