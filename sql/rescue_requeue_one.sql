-- Rescue's row-by-row requeue (see rescue_candidates.sql): job $1, held
-- under the expired lease $2, becomes available now with error $3
-- appended, and its queue is woken on channel $4. Returns its queue.
UPDATE {{jobs}}
SET state       = 'available',
    run_at      = now(),
    lease_until = NULL,
    claimed_by  = NULL,
    errors      = coalesce(errors, '[]'::jsonb) || jsonb_build_array($3::jsonb)
WHERE id = $1 AND lease_token = $2 AND state = 'running'
RETURNING queue, pg_notify($4, queue) IS NULL
