-- Running jobs, those whose lease ends first first. $1 limit.
SELECT id, queue, kind, attempt, max_attempts, coalesce(claimed_by, ''), attempted_at, lease_until
FROM {{jobs}}
WHERE state = 'running'
ORDER BY lease_until
LIMIT $1
