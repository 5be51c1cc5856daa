-- delete_jobs.lua deletes the listed jobs of one queue that are still
-- waiting (available or scheduled), freeing their unique keys
-- (pgqueue.BulkDelete). Running and dead jobs are left alone.
--
-- KEYS[1] the queue's scheduled set.
-- ARGV[1] queue tag, ARGV[2..] job IDs.
-- Returns how many jobs it deleted.

local tag = ARGV[1]
local bad = check_zsets({ KEYS[1] })
if bad then
  return bad
end
local jobs = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  local f = read_hash(job_key(tag, id), { 'state', 'kind', 'unique_key' })
  if f and (f[1] == 'scheduled' or (f[1] == 'available' and f[2] and is_zset(avail_key(tag, f[2])))) then
    jobs[#jobs + 1] = { id = id, state = f[1], kind = f[2], ukey = f[3] }
  end
end
for _, j in ipairs(jobs) do
  if j.state == 'available' then
    redis.call('ZREM', avail_key(tag, j.kind), member(j.id))
  else
    redis.call('ZREM', KEYS[1], member(j.id))
  end
  release_unique(tag, j.id, j.ukey)
  redis.call('DEL', job_key(tag, j.id))
end
return #jobs
