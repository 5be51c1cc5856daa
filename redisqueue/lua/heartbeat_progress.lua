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
local jobs = {}
for i = 3, #ARGV, 3 do
  jobs[#jobs + 1] = { pos = i / 3, id = ARGV[i], token = ARGV[i + 1], progress = ARGV[i + 2],
    f = read_hash(job_key(tag, ARGV[i]), { 'state', 'token' }) }
end
local held = {}
for _, job in ipairs(jobs) do
  local f = job.f
  if f and f[1] == 'running' and f[2] == job.token then
    local key = job_key(tag, job.id)
    redis.call('HSET', key, 'lease_until', lease_until)
    if job.progress ~= '' then
      redis.call('HSET', key, 'progress', job.progress)
    end
    redis.call('ZADD', KEYS[1], lease_until, member(job.id))
    held[#held + 1] = job.pos
  end
end
return held
