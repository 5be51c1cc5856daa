-- The listener's probe, sent from the pool right after the listener's
-- LISTEN: a notification on channel $1 with payload $2 that must reach the
-- listener's session (see listen.go's probeListen).
SELECT pg_notify($1, $2)
