-- promote.lua makes scheduled jobs of one queue whose run-at has passed
-- available, a bounded batch per call, wakes the queue if it promoted any,
-- and says when the earliest job still scheduled falls due.
--
-- KEYS[1] the queue's scheduled set.
-- ARGV[1] queue tag, ARGV[2] wake channel, ARGV[3] queue name, ARGV[4] batch
--         size, ARGV[5] the time to stamp on errors (RFC 3339).
-- Returns { promoted, 1 if the batch was full, 1 if a job is still
-- scheduled, microseconds until it is due }.

local tag, channel, queue, batch, at = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local bad = check_zsets({ KEYS[1], tag .. ':dead' })
if bad then
  return bad
end
local now = now_us()
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', int(now), 'LIMIT', 0, batch)
-- Every job is read before the first write (see lib.lua); a member that
-- names no job is dropped, a job that cannot be made available (hash
-- damaged or gone, its available set damaged) is dead-lettered.
local jobs = {}
for i, m in ipairs(due) do
  local id = id_of(m)
  local f = nil
  if id then
    f = read_hash(job_key(tag, id), { 'kind', 'priority', 'run_at' })
  end
  jobs[i] = { m = m, id = id, f = f }
end
local promoted = 0
for _, job in ipairs(jobs) do
  local m, id, f = job.m, job.id, job.f
  redis.call('ZREM', KEYS[1], m)
  if not id then
    drop_member(tag, KEYS[1], m, now)
  elseif not f then
    bury(tag, queue, id, nil, now, at, nil)
  else
    local key = job_key(tag, id)
    local missing = missing_fields(f, { 'kind', 'priority', 'run_at' }, { priority = true, run_at = true })
    if #missing > 0 then
      local reason
      if redis.call('EXISTS', key) == 1 then
        reason = 'the stored job is corrupt: ' .. table.concat(missing, ', ')
      end
      bury(tag, queue, id, f[1] or nil, now, at, reason)
    elseif not is_zset(avail_key(tag, f[1])) then
      bury(tag, queue, id, f[1], now, at, 'its available set ' .. avail_key(tag, f[1]) .. ' is not a sorted set')
    else
      redis.call('HSET', key, 'state', 'available')
      redis.call('ZADD', avail_key(tag, f[1]), int(avail_score(intfield(f[2]), intfield(f[3]))), m)
      promoted = promoted + 1
    end
  end
end
if promoted > 0 then
  redis.call('PUBLISH', channel, queue)
end
local full = 0
if #due >= batch then
  full = 1
end
local next = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #next == 0 then
  return { promoted, full, 0, 0 }
end
return { promoted, full, 1, int(tonumber(next[2]) - now) }
