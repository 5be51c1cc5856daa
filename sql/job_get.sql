-- One job of the queue table, whatever its state. $1 id.
SELECT id, kind, queue, priority, args, attempt, max_attempts, errors, created_at,
       run_at, attempted_at, lease_until, lease_token, state, coalesce(claimed_by, ''), metadata
FROM {{jobs}}
WHERE id = $1
