-- history_prune.lua deletes up to ARGV[2] jobs of one queue's history
-- whose keep time has passed, on the Redis server's clock.
--
-- KEYS[1] the queue's history set.
-- ARGV[1] queue tag, ARGV[2] the most jobs to delete.
-- Returns how many it deleted.

local tag = ARGV[1]
local bad = check_zsets({ KEYS[1] })
if bad then
  return bad
end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', int(now_us()), 'LIMIT', 0, tonumber(ARGV[2]))
for _, m in ipairs(due) do
  local id = id_of(m)
  if id then
    local key = job_key(tag, id)
    -- Only a job still completed is deleted: an ID is never reused, but a
    -- damaged or hand-edited entry must not take another job with it.
    if redis.call('TYPE', key).ok == 'hash' and redis.call('HGET', key, 'state') == 'completed' then
      redis.call('DEL', key)
    end
  end
end
if #due > 0 then
  zrem_many(KEYS[1], due)
end
return #due
