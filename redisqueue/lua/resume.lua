-- resume.lua lets clients claim from a paused queue again and, if it was
-- paused, wakes its listeners.
--
-- KEYS[1] the queue's config hash.
-- ARGV[1] wake channel, ARGV[2] queue name.
-- Returns 1 when the queue was paused.

if redis.call('HDEL', KEYS[1], 'paused') == 0 then
  return 0
end
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1
