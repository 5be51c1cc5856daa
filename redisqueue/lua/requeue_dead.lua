-- requeue_dead.lua moves dead-lettered jobs of one queue back to its
-- available sets, due now, with their attempt count reset and their history
-- and token kept, and wakes the queue. IDs that are not dead here, and
-- stubs with no kind (left for jobs whose hash had vanished), and jobs whose
-- key holds another type, are skipped.
--
-- KEYS[1] the queue's dead-letter set.
-- ARGV[1] queue tag, ARGV[2] wake channel, ARGV[3] queue name, ARGV[4..] ids.
-- Returns how many jobs it moved.

local tag, channel, queue = ARGV[1], ARGV[2], ARGV[3]
local bad = check_zsets({ KEYS[1] })
if bad then
  return bad
end
local now = now_us()
local moved = 0
for i = 4, #ARGV do
  local id = ARGV[i]
  local key = job_key(tag, id)
  -- A job whose key holds another type, or whose available set is
  -- damaged, stays dead; nothing here can fail after a write.
  local f = read_hash(key, { 'state', 'kind', 'priority' })
  if f and f[1] == 'dead' and f[2] and f[2] ~= '' and is_zset(avail_key(tag, f[2])) then
    local m = member(id)
    redis.call('ZREM', KEYS[1], m)
    if is_zset(dead_kind_key(tag, f[2])) then
      redis.call('ZREM', dead_kind_key(tag, f[2]), m)
    end
    redis.call('HDEL', key, 'died_at')
    redis.call('HSET', key, 'state', 'available', 'attempt', '0', 'run_at', int(now))
    redis.call('ZADD', avail_key(tag, f[2]), int(avail_score(intfield(f[3]) or 0, now)), m)
    moved = moved + 1
  end
end
if moved > 0 then
  redis.call('PUBLISH', channel, queue)
end
return moved
