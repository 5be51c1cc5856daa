-- The listener's probe is over: leave the probe channel.
UNLISTEN {{probe_channel}}
