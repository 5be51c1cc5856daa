-- purge_dead.lua deletes dead-lettered jobs of one queue, a bounded batch
-- per call when it scans a time range.
--
-- KEYS[1] the dead-letter set to read: the queue's, or its set for one kind.
-- ARGV[1] queue tag, ARGV[2] died-before bound in microseconds (exclusive,
--         '' for none), ARGV[3] died-after bound (exclusive, '' for none),
--         ARGV[4] batch size, ARGV[5..] ids: when given, only these jobs.
-- Returns the IDs it deleted.

local tag, before, after, batch = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local members = select_dead(KEYS[1], before, after, batch, false)

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
