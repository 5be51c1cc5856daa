-- The listener's probe (see listen_probe.sql): subscribe to the schema's
-- probe channel before the probe is sent.
LISTEN {{probe_channel}}
