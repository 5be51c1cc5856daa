-- unlock.lua releases the rescue lock only if it still holds the caller's
-- token, so a rescuer whose lock expired cannot release another's.
--
-- KEYS[1] the lock. ARGV[1] the caller's token.
-- Returns 1 when released.

if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
