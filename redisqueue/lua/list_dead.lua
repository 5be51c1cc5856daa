-- list_dead.lua reads the newest dead-lettered jobs of one queue, in one
-- consistent snapshot. It writes nothing.
--
-- KEYS[1] the dead-letter set to read: the queue's, or its set for one kind.
-- ARGV[1] queue tag, ARGV[2] died-before bound in microseconds (exclusive,
--         '' for none), ARGV[3] died-after bound (exclusive, '' for none),
--         ARGV[4] limit, ARGV[5..] ids: when given, only these jobs.
-- Returns one array per job, newest first: id, kind, priority, args,
-- attempt, max attempts, errors, created-at, died-at, metadata.

local tag, before, after, limit = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local hi, lo = '+inf', '-inf'
if before ~= '' then
  hi = '(' .. before
end
if after ~= '' then
  lo = '(' .. after
end

local members = {}
if #ARGV > 4 then
  -- Membership of KEYS[1] applies the kind filter; the score is died-at.
  for i = 5, #ARGV do
    local m = member(ARGV[i])
    local score = redis.call('ZSCORE', KEYS[1], m)
    if score then
      score = tonumber(score)
      if (before == '' or score < tonumber(before)) and (after == '' or score > tonumber(after)) then
        members[#members + 1] = m
      end
    end
  end
else
  members = redis.call('ZREVRANGEBYSCORE', KEYS[1], hi, lo, 'LIMIT', 0, limit)
end

local out = {}
for _, m in ipairs(members) do
  local id = id_of(m)
  local f = redis.call('HMGET', job_key(tag, id), 'kind', 'priority', 'args', 'attempt', 'max_attempts',
    'errors', 'created_at', 'died_at', 'metadata')
  local row = { id }
  for i = 1, #f do
    row[i + 1] = f[i] or ''
  end
  out[#out + 1] = row
end
return out
