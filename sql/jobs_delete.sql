-- Delete the listed jobs that are still waiting (Bulk delete); running
-- jobs are left alone. $1 ids.
DELETE FROM {{jobs}}
WHERE id = ANY($1) AND state IN ('available', 'scheduled')
