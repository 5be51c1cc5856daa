-- heartbeat.lua moves the lease of running jobs of one queue that are still
-- held under the given fencing tokens to the given duration from now and,
-- for pgqueue.SetProgress, stores the progress the handlers reported since
-- the last heartbeat.
--
-- KEYS[1] the queue's running set.
-- ARGV[1] queue tag, ARGV[2] lease in microseconds, ARGV[3] values per
--         job: 2 (id and token) or 3 (id, token and progress as JSON, ''
--         keeping the stored one); then those values per job.
-- Returns the positions (1-based) of the jobs still held.

local tag = ARGV[1]
local bad = check_zsets({ KEYS[1] })
if bad then
  return bad
end
local lease_until = int(now_us() + tonumber(ARGV[2]))
local stride = tonumber(ARGV[3])
local out = {}
for _, job in ipairs(held_jobs(tag, 4, stride, { 'state', 'token' })) do
  redis.call('HSET', job.key, 'lease_until', lease_until)
  if stride == 3 and ARGV[job.at + 2] ~= '' then
    redis.call('HSET', job.key, 'progress', ARGV[job.at + 2])
  end
  redis.call('ZADD', KEYS[1], lease_until, member(job.id))
  out[#out + 1] = job.pos
end
return out
