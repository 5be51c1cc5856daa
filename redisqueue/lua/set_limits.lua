-- set_limits.lua stores (or, with max running 0 and no rate, clears) a
-- queue's global limits in its config hash, which claim.lua reads. A new
-- or changed rate starts with a full bucket; the same rate and burst set
-- again (every client does at Start) keep the bucket as it is, so restarts
-- cannot grant extra bursts. The paused flag is left alone.
--
-- KEYS[1] the queue's config hash.
-- ARGV[1] max running (0: no cap), ARGV[2] rate per second ('' for no
--         rate), ARGV[3] burst.
-- Returns 1.

local max_running, rate, burst = ARGV[1], ARGV[2], ARGV[3]
if max_running == '0' then
  redis.call('HDEL', KEYS[1], 'max_running')
else
  redis.call('HSET', KEYS[1], 'max_running', max_running)
end
if rate == '' then
  redis.call('HDEL', KEYS[1], 'rate', 'burst', 'tokens', 'tokens_at')
  return 1
end
local f = redis.call('HMGET', KEYS[1], 'rate', 'burst')
if f[1] ~= rate or f[2] ~= burst then
  redis.call('HSET', KEYS[1], 'rate', rate, 'burst', burst, 'tokens', burst, 'tokens_at', int(now_us()))
end
return 1
