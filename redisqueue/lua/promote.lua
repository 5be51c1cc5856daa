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
local now = now_us()
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', int(now), 'LIMIT', 0, batch)
local promoted = 0
for _, m in ipairs(due) do
  redis.call('ZREM', KEYS[1], m)
  local id = id_of(m)
  local key = job_key(tag, id)
  local f = redis.call('HMGET', key, 'kind', 'priority', 'run_at')
  local bad = missing_fields(f, { 'kind', 'priority', 'run_at' }, { priority = true, run_at = true })
  if #bad > 0 then
    if redis.call('EXISTS', key) == 0 then
      bury(tag, queue, id, nil, now, at, 'the job hash is gone (deleted or evicted: is maxmemory-policy noeviction?)')
    else
      bury(tag, queue, id, f[1] or nil, now, at, 'the stored job is corrupt: ' .. table.concat(bad, ', '))
    end
  else
    redis.call('HSET', key, 'state', 'available')
    redis.call('ZADD', avail_key(tag, f[1]), int(avail_score(intfield(f[2]), intfield(f[3]))), m)
    promoted = promoted + 1
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
