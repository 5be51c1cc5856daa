-- heartbeat_progress.lua is heartbeat.lua that also stores the progress
-- the handlers reported since the last heartbeat (pgqueue.SetProgress).
--
-- KEYS[1] the queue's running set.
-- ARGV[1] queue tag, ARGV[2] lease in microseconds, then per job: id,
--         token and progress as JSON ('' keeps the stored one).
-- Returns the positions (1-based) of the jobs still held.

local tag = ARGV[1]
local bad = check_zsets({ KEYS[1] })
if bad then
  return bad
end
local lease_until = int(now_us() + tonumber(ARGV[2]))
local held = held_jobs(tag, 3, 3, { 'state', 'token' })
local out = {}
for _, job in ipairs(held) do
  redis.call('HSET', job.key, 'lease_until', lease_until)
  local progress = ARGV[job.at + 2]
  if progress ~= '' then
    redis.call('HSET', job.key, 'progress', progress)
  end
  redis.call('ZADD', KEYS[1], lease_until, member(job.id))
  out[#out + 1] = job.pos
end
return out
