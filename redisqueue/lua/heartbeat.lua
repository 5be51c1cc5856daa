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
-- Every job is read before the first write (see lib.lua); a job whose key
-- holds another type is reported lost.
local jobs = {}
for i = 3, #ARGV, 2 do
  jobs[#jobs + 1] = { pos = (i - 1) / 2, id = ARGV[i], token = ARGV[i + 1],
    f = read_hash(job_key(tag, ARGV[i]), { 'state', 'token' }) }
end
local held = {}
for _, job in ipairs(jobs) do
  local f = job.f
  if f and f[1] == 'running' and f[2] == job.token then
    redis.call('HSET', job_key(tag, job.id), 'lease_until', lease_until)
    redis.call('ZADD', KEYS[1], lease_until, member(job.id))
    held[#held + 1] = job.pos
  end
end
return held
