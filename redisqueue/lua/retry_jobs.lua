-- retry_jobs.lua makes the listed jobs of one queue that are still
-- scheduled available now (pgqueue.BulkRetry), and wakes the queue.
--
-- KEYS[1] the queue's scheduled set.
-- ARGV[1] queue tag, ARGV[2] wake channel, ARGV[3] queue name, ARGV[4..]
--         job IDs.
-- Returns how many jobs it made available.

local tag, channel, queue = ARGV[1], ARGV[2], ARGV[3]
local bad = check_zsets({ KEYS[1] })
if bad then
  return bad
end
-- Read everything before the first write (see lib.lua).
local jobs = {}
for i = 4, #ARGV do
  local id = ARGV[i]
  local m = member(id)
  if redis.call('ZSCORE', KEYS[1], m) then
    local f = read_hash(job_key(tag, id), { 'state', 'kind', 'priority' })
    if f and f[1] == 'scheduled' and f[2] and intfield(f[3]) and is_zset(avail_key(tag, f[2])) then
      jobs[#jobs + 1] = { id = id, m = m, kind = f[2], prio = intfield(f[3]) }
    end
  end
end
local now = int(now_us())
for _, j in ipairs(jobs) do
  redis.call('ZREM', KEYS[1], j.m)
  redis.call('HSET', job_key(tag, j.id), 'state', 'available', 'run_at', now)
  redis.call('ZADD', avail_key(tag, j.kind), int(avail_score(j.prio, tonumber(now))), j.m)
end
if #jobs > 0 then
  redis.call('PUBLISH', channel, queue)
end
return #jobs
