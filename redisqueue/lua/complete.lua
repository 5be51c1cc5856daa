-- complete.lua deletes running jobs of one queue that are still held under
-- the given fencing tokens, freeing their unique keys.
--
-- KEYS[1] the queue's running set.
-- ARGV[1] queue tag, then an id and a token per job.
-- Returns the positions (1-based) of the jobs it completed.

local tag = ARGV[1]
local done, gone = {}, {}
for i = 2, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local key = job_key(tag, id)
  local f = redis.call('HMGET', key, 'state', 'token', 'unique_key')
  if f[1] == 'running' and f[2] == token then
    release_unique(tag, id, f[3])
    redis.call('DEL', key)
    gone[#gone + 1] = member(id)
    done[#done + 1] = i / 2
  end
end
if #gone > 0 then
  zrem_many(KEYS[1], gone)
end
return done
