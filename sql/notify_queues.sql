-- Wake the given queues: one NOTIFY each, delivered at commit.
-- $1 notify channel, $2 queue names.
SELECT pg_notify($1, q) FROM unnest($2::text[]) AS q
