-- Microseconds until the earliest scheduled job is due; null when none is.
SELECT (extract(epoch FROM min(run_at) - now()) * 1000000)::bigint
FROM {{jobs}}
WHERE state = 'scheduled'
