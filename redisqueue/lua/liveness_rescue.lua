-- liveness_rescue.lua handles, in one queue, the running jobs held by
-- clients whose liveness is gone, a bounded batch per call: those with
-- attempts left become available again (run-at now), the others are
-- dead-lettered; either way the given error is appended to the history,
-- stamped with the attempt that was lost (dead jobs free their unique
-- keys). It wakes the queue if it made any job available.
--
-- A job moves only if, inside this atomic script, it is still running,
-- held by one of the gone clients, and claimed more than the minimum age
-- ago on the server's clock; and, when the caller passes the clients'
-- liveness keys (only possible where they share a server with the queue's
-- keys: a plain client, never a cluster), only while that key is absent.
-- A job whose hash is damaged is left for the lease rescue (rescue.lua),
-- which buries it.
--
-- KEYS[1] the queue's running set, KEYS[2] its dead-letter set, then
--         optionally KEYS[2+i] the liveness key of the i-th gone client.
-- ARGV[1] queue tag, ARGV[2] wake channel, ARGV[3] queue name, ARGV[4] the
--         error's JSON after its attempt number (from the first ','),
--         ARGV[5] batch size, ARGV[6] minimum age in µs, ARGV[7..] the
--         gone clients' IDs.
-- Returns { requeued, dead-lettered, 1 if the batch was full }.

local tag, channel, queue, tail = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local batch, min_age = tonumber(ARGV[5]), tonumber(ARGV[6])
local bad = check_zsets({ KEYS[1], KEYS[2] })
if bad then
  return bad
end
local gone = {}
for i = 7, #ARGV do
  local live_key = KEYS[2 + (i - 6)]
  if not live_key or redis.call('EXISTS', live_key) == 0 then
    gone[ARGV[i]] = true
  end
end
if next(gone) == nil then
  return { 0, 0, 0 }
end
local now = now_us()
local names = { 'state', 'kind', 'priority', 'attempt', 'max_attempts', 'errors', 'unique_key', 'claimed_by',
  'attempted_at' }
-- Every candidate is read before the first write (see lib.lua).
local picked = {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if #picked >= batch then
    break
  end
  local id = id_of(m)
  if id then
    local f = read_hash(job_key(tag, id), names)
    if f and f[1] == 'running' and f[8] and gone[f[8]] and intfield(f[9]) and intfield(f[9]) < now - min_age
      and #missing_fields(f, { 'state', 'kind', 'priority', 'attempt', 'max_attempts' },
        { priority = true, attempt = true, max_attempts = true }) == 0 then
      local attempt, max_attempts = intfield(f[4]), intfield(f[5])
      if attempt >= max_attempts or is_zset(avail_key(tag, f[2])) then
        picked[#picked + 1] = { m = m, id = id, f = f, attempt = attempt, max_attempts = max_attempts }
      end
    end
  end
end
local requeued, dead = 0, 0
for _, job in ipairs(picked) do
  redis.call('ZREM', KEYS[1], job.m)
  if give_back(tag, job.id, job.m, job.f, job.attempt, job.max_attempts, tail, now, KEYS[2]) then
    requeued = requeued + 1
  else
    dead = dead + 1
  end
end
return rescued(channel, queue, requeued, dead, #picked, batch)
