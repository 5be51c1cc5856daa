-- heartbeat.lua moves the lease of running jobs of one queue that are still
-- held under the given fencing tokens to the given duration from now.
--
-- KEYS[1] the queue's running set.
-- ARGV[1] queue tag, ARGV[2] lease in microseconds, then an id and a token
--         per job.
-- Returns the positions (1-based) of the jobs still held.

local tag = ARGV[1]
local lease_until = int(now_us() + tonumber(ARGV[2]))
local held = {}
for i = 3, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local key = job_key(tag, id)
  local f = redis.call('HMGET', key, 'state', 'token')
  if f[1] == 'running' and f[2] == token then
    redis.call('HSET', key, 'lease_until', lease_until)
    redis.call('ZADD', KEYS[1], lease_until, member(id))
    held[#held + 1] = (i - 1) / 2
  end
end
return held
