-- list_dead.lua reads the newest dead-lettered jobs of one queue, in one
-- consistent snapshot. It writes nothing, and reads job keys with
-- read_hash, so a damaged job never fails the listing.
--
-- KEYS[1] the dead-letter set to read: the queue's, or its set for one kind.
-- ARGV[1] queue tag, ARGV[2] died-before bound in microseconds (exclusive,
--         '' for none), ARGV[3] died-after bound (exclusive, '' for none),
--         ARGV[4] limit, ARGV[5..] ids: when given, only these jobs.
-- Returns one array per job, newest first: id, kind, priority, args,
-- attempt, max attempts, errors, created-at, died-at, metadata.

local tag, before, after, limit = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local members = select_dead(KEYS[1], before, after, limit, true)

local fields = { 'kind', 'priority', 'args', 'attempt', 'max_attempts', 'errors', 'created_at', 'died_at', 'metadata' }
local out = {}
for _, m in ipairs(members) do
  local id = id_of(m)
  -- A member naming no job is not listed; a job whose key holds another
  -- type is listed with an error saying so, and can be purged.
  if id then
    local f, t = read_hash(job_key(tag, id), fields)
    local row = { id }
    if f then
      for i = 1, #f do
        row[i + 1] = f[i] or ''
      end
    else
      for i = 1, #fields do
        row[i + 1] = ''
      end
      row[7] = '[{"attempt":0,"error":' .. cjson.encode('redisqueue: job ' .. id .. ': the job key holds a ' .. t ..
        ', not a hash') .. ',"kind":"decode"}]'
    end
    out[#out + 1] = row
  end
end
return out
