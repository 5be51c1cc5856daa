-- rescue.lua handles running jobs of one queue whose lease has ended, a
-- bounded batch per call: those with attempts left become available again
-- (run-at now), the others are dead-lettered; either way the given error is
-- appended to the history, stamped with the attempt that was lost (dead
-- jobs free their unique keys). It
-- wakes the queue if it made any job available.
--
-- Each job is handled inside this atomic script, and its lease end is
-- re-read here, so concurrent rescuers (the lock is only an optimisation)
-- can never handle one expiry twice.
--
-- KEYS[1] the queue's running set, KEYS[2] its dead-letter set.
-- ARGV[1] queue tag, ARGV[2] wake channel, ARGV[3] queue name, ARGV[4] the
--         error's JSON after its attempt number (from the first ','),
--         ARGV[5] batch size, ARGV[6] the time to stamp on errors (RFC 3339).
-- Returns { requeued, dead-lettered, 1 if the batch was full }.

local tag, channel, queue, tail = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local batch, at = tonumber(ARGV[5]), ARGV[6]
local bad = check_zsets({ KEYS[1], KEYS[2] })
if bad then
  return bad
end
local now = now_us()
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. int(now), 'LIMIT', 0, batch)
local requeued, dead = 0, 0
local names = { 'state', 'kind', 'priority', 'attempt', 'max_attempts', 'errors', 'unique_key' }
-- Every job is read before the first write (see lib.lua).
local jobs = {}
for i, m in ipairs(expired) do
  local id = id_of(m)
  local f = nil
  if id then
    f = read_hash(job_key(tag, id), names)
  end
  jobs[i] = { m = m, id = id, f = f }
end
for _, job in ipairs(jobs) do
  local m, id, f = job.m, job.id, job.f
  redis.call('ZREM', KEYS[1], m)
  if not id then
    drop_member(tag, KEYS[1], m, now)
  elseif not f then
    bury(tag, queue, id, nil, now, at, nil)
    dead = dead + 1
  elseif f[1] == 'running' then
    local missing = missing_fields(f, { 'state', 'kind', 'priority', 'attempt', 'max_attempts' },
      { priority = true, attempt = true, max_attempts = true })
    local attempt = intfield(f[4])
    if #missing > 0 then
      bury(tag, queue, id, f[2] or nil, now, at, 'the stored job is corrupt: ' .. table.concat(missing, ', '))
      dead = dead + 1
    elseif attempt < intfield(f[5]) and not is_zset(avail_key(tag, f[2])) then
      bury(tag, queue, id, f[2], now, at, 'its available set ' .. avail_key(tag, f[2]) .. ' is not a sorted set')
      dead = dead + 1
    else
      if give_back(tag, id, m, f, attempt, intfield(f[5]), tail, now, KEYS[2]) then
        requeued = requeued + 1
      else
        dead = dead + 1
      end
    end
  elseif f[1] == false then
    local reason
    if redis.call('EXISTS', job_key(tag, id)) == 1 then
      reason = 'the stored job is corrupt: state (missing)'
    end
    bury(tag, queue, id, f[2] or nil, now, at, reason)
    dead = dead + 1
  end
  -- Any other state means the member was stale: removing it is all to do.
end
return rescued(channel, queue, requeued, dead, #expired, batch)
