-- purge_dead.lua deletes dead-lettered jobs of one queue, a bounded batch
-- per call when it scans a time range.
--
-- KEYS[1] the dead-letter set to read: the queue's, or its set for one kind.
-- ARGV[1] queue tag, ARGV[2] died-before bound in microseconds (exclusive,
--         '' for none), ARGV[3] died-after bound (exclusive, '' for none),
--         ARGV[4] batch size, ARGV[5..] ids: when given, only these jobs.
-- Returns the IDs it deleted.

local tag, before, after, batch = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local hi, lo = '+inf', '-inf'
if before ~= '' then
  hi = '(' .. before
end
if after ~= '' then
  lo = '(' .. after
end

local members = {}
if #ARGV > 4 then
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
  members = redis.call('ZRANGEBYSCORE', KEYS[1], lo, hi, 'LIMIT', 0, batch)
end

local out = {}
for _, m in ipairs(members) do
  local id = id_of(m)
  local key = job_key(tag, id)
  local kind = redis.call('HGET', key, 'kind')
  redis.call('DEL', key)
  redis.call('ZREM', tag .. ':dead', m)
  if kind then
    redis.call('ZREM', dead_kind_key(tag, kind), m)
  end
  out[#out + 1] = id
end
return out
