-- lock.lua takes the rescue lock for the caller's token. A caller that
-- holds it already (its earlier attempt's reply was lost and the client
-- retried) gets it again, with a fresh expiry, rather than being locked out
-- by itself until the lock expires.
--
-- KEYS[1] the lock. ARGV[1] the caller's token, ARGV[2] expiry in ms.
-- Returns 1 when the caller holds the lock.

local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
