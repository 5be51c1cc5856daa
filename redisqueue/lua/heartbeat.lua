-- heartbeat.lua moves the lease of running jobs of one queue that are still
-- held under the given fencing tokens to the given duration from now.
--
-- KEYS[1] the queue's running set.
-- ARGV[1] queue tag, ARGV[2] lease in microseconds, then an id and a token
--         per job.
-- Returns the positions (1-based) of the jobs still held.

local tag = ARGV[1]
local bad = check_zsets({ KEYS[1] })
if bad then
  return bad
end
local lease_until = int(now_us() + tonumber(ARGV[2]))
local held = held_jobs(tag, 3, 2, { 'state', 'token' })
local out = {}
for _, job in ipairs(held) do
  redis.call('HSET', job.key, 'lease_until', lease_until)
  redis.call('ZADD', KEYS[1], lease_until, member(job.id))
  out[#out + 1] = job.pos
end
return out
