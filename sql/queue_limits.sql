-- Set (or, with nulls, clear) queue $1's global limits: $2 max running,
-- $3 claims per second, $4 burst. A new or changed rate starts with a full
-- bucket; setting the same rate again (every client does at Start) keeps
-- the bucket as it is, so restarts cannot grant extra bursts.
INSERT INTO {{queues}} AS q (name, max_running, rate_limit, rate_burst, tokens, tokens_at)
VALUES ($1, $2, $3, $4, $4, now())
ON CONFLICT (name) DO UPDATE
SET max_running = excluded.max_running,
    rate_limit  = excluded.rate_limit,
    rate_burst  = excluded.rate_burst,
    tokens      = CASE WHEN q.rate_limit IS NOT DISTINCT FROM excluded.rate_limit
                        AND q.rate_burst IS NOT DISTINCT FROM excluded.rate_burst
                       THEN q.tokens ELSE excluded.tokens END,
    tokens_at   = CASE WHEN q.rate_limit IS NOT DISTINCT FROM excluded.rate_limit
                        AND q.rate_burst IS NOT DISTINCT FROM excluded.rate_burst
                       THEN q.tokens_at ELSE excluded.tokens_at END,
    updated_at  = now()
