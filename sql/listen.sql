-- Subscribe the listener's own connection to the schema's channel, on
-- which enqueues, promotions, rescues and cancels send wake-ups.
LISTEN {{channel}}
