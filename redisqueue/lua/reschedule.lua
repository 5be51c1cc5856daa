-- reschedule.lua puts a running job held under the given token back in its
-- queue: available now (delay <= 0, waking the queue) or scheduled after the
-- delay; appends an error to its history when one is given; and gives back
-- the attempt the claim counted when asked to.
--
-- KEYS[1] the queue's running set, KEYS[2] its scheduled set.
-- ARGV[1] queue tag, ARGV[2] wake channel, ARGV[3] queue name, ARGV[4] id,
--         ARGV[5] token, ARGV[6] delay in microseconds, ARGV[7] the error as
--         JSON ('' for none), ARGV[8] '1' to refund the attempt.
-- Returns 1 when the job was held and put back, 0 when the lease was lost.

local tag, channel, queue, id, token = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local delay, err, refund = tonumber(ARGV[6]), ARGV[7], ARGV[8] == '1'
local key = job_key(tag, id)
local f = redis.call('HMGET', key, 'state', 'token', 'kind', 'priority', 'attempt', 'errors')
if f[1] ~= 'running' or f[2] ~= token then
  return 0
end
local now = now_us()
local m = member(id)
redis.call('ZREM', KEYS[1], m)
redis.call('HDEL', key, 'lease_until', 'claimed_by')
if err ~= '' then
  redis.call('HSET', key, 'errors', append_error(f[6], err))
end
if refund then
  redis.call('HSET', key, 'attempt', int(math.max((intfield(f[5]) or 1) - 1, 0)))
end
if delay <= 0 then
  redis.call('HSET', key, 'state', 'available', 'run_at', int(now))
  redis.call('ZADD', avail_key(tag, f[3] or ''), int(avail_score(intfield(f[4]) or 0, now)), m)
  redis.call('PUBLISH', channel, queue)
else
  redis.call('HSET', key, 'state', 'scheduled', 'run_at', int(now + delay))
  redis.call('ZADD', KEYS[2], int(now + delay), m)
end
return 1
