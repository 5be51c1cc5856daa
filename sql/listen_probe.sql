-- The listener's probe, sent from the pool while the listener LISTENs on
-- the schema's probe channel (listen_probe_on.sql): payload $1 must reach
-- the listener's session (see listen.go's probeListen). Sent on a channel
-- of its own, so that the queues' listeners never see it.
SELECT pg_notify(probe_channel, $1)
FROM (SELECT $2::text AS probe_channel) c
