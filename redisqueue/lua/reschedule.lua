-- reschedule.lua puts a running job held under the given token back in its
-- queue: available now (delay <= 0, waking the queue) or scheduled after the
-- delay; appends an error to its history when one is given; and gives back
-- the attempt the claim counted when asked to.
--
-- KEYS[1] the queue's running set, KEYS[2] its scheduled set.
-- ARGV[1] queue tag, ARGV[2] wake channel, ARGV[3] queue name, ARGV[4] id,
--         ARGV[5] token, ARGV[6] delay in microseconds, ARGV[7] the error as
--         JSON ('' for none), ARGV[8] '1' to refund the attempt, ARGV[9]
--         the time to stamp on errors (RFC 3339), ARGV[10] '1' to keep the
--         job's run time when it goes back available (a release of a job
--         that never ran keeps its place and its scheduled time).
-- Returns 1 when the job was held and put back, 0 when the lease was lost
-- (or the job's key holds another type: rescue dead-letters it when its
-- lease ends), 2 when the job was held but its hash is too damaged to put
-- back (no kind or priority, or its available set damaged): it is then
-- dead-lettered with a "decode" error instead.

local tag, channel, queue, id, token = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local delay, err, refund, at, keep = tonumber(ARGV[6]), ARGV[7], ARGV[8] == '1', ARGV[9], ARGV[10] == '1'
local bad = check_zsets({ KEYS[1], KEYS[2], tag .. ':dead' })
if bad then
  return bad
end
local key = job_key(tag, id)
local f = read_hash(key, { 'state', 'token', 'kind', 'priority', 'attempt', 'errors', 'run_at' })
if not f or f[1] ~= 'running' or f[2] ~= token then
  return 0
end
local now = now_us()
local m = member(id)
if not f[3] or f[3] == '' or intfield(f[4]) == nil or (delay <= 0 and not is_zset(avail_key(tag, f[3]))) then
  local why = {}
  if not f[3] or f[3] == '' then
    why[#why + 1] = 'kind (missing)'
  end
  if intfield(f[4]) == nil then
    why[#why + 1] = 'priority (missing or not an integer)'
  end
  if #why == 0 then
    why[1] = 'its available set ' .. avail_key(tag, f[3]) .. ' is not a sorted set'
  end
  redis.call('ZREM', KEYS[1], m)
  bury(tag, queue, id, f[3] or nil, now, at, 'the stored job cannot be rescheduled: ' .. table.concat(why, ', '))
  return 2
end
redis.call('ZREM', KEYS[1], m)
redis.call('HDEL', key, 'lease_until', 'claimed_by')
if err ~= '' then
  redis.call('HSET', key, 'errors', append_error(f[6], err))
end
if refund then
  redis.call('HSET', key, 'attempt', int(math.max((intfield(f[5]) or 1) - 1, 0)))
end
if delay <= 0 then
  local run_at = now
  if keep and intfield(f[7]) ~= nil then
    run_at = intfield(f[7])
  end
  redis.call('HSET', key, 'state', 'available', 'run_at', int(run_at))
  redis.call('ZADD', avail_key(tag, f[3]), int(avail_score(intfield(f[4]), run_at)), m)
  redis.call('PUBLISH', channel, queue)
else
  redis.call('HSET', key, 'state', 'scheduled', 'run_at', int(now + delay))
  redis.call('ZADD', KEYS[2], int(now + delay), m)
end
return 1
