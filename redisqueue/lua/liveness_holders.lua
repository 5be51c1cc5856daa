-- liveness_holders.lua lists the clients holding running jobs of one
-- queue, each once: the claimed_by of every job in its running set. Jobs
-- whose hash is unreadable or names no claimer are skipped (their lease
-- rescue deals with them).
--
-- KEYS[1] the queue's running set. ARGV[1] queue tag.
-- Returns the claimers' IDs.

local tag = ARGV[1]
if redis.call('TYPE', KEYS[1]).ok ~= 'zset' then
  return {}
end
local seen, out = {}, {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local id = id_of(m)
  if id then
    local f = read_hash(job_key(tag, id), { 'state', 'claimed_by' })
    if f and f[1] == 'running' and f[2] and not seen[f[2]] then
      seen[f[2]] = true
      out[#out + 1] = f[2]
    end
  end
end
return out
