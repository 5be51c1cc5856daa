-- Set (or, with nulls, clear) queue $1's global limits: $2 max running,
-- $3 claims per second, $4 burst. The token bucket starts full.
INSERT INTO {{queues}} AS q (name, max_running, rate_limit, rate_burst, tokens, tokens_at)
VALUES ($1, $2, $3, $4, $4, now())
ON CONFLICT (name) DO UPDATE
SET max_running = excluded.max_running, rate_limit = excluded.rate_limit,
    rate_burst = excluded.rate_burst, tokens = excluded.tokens, tokens_at = excluded.tokens_at,
    updated_at = now()
