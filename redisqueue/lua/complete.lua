-- complete.lua deletes running jobs of one queue that are still held under
-- the given fencing tokens, freeing their unique keys.
--
-- KEYS[1] the queue's running set.
-- ARGV[1] queue tag, then an id and a token per job.
-- Returns the positions (1-based) of the jobs it completed.

local tag = ARGV[1]
local bad = check_zsets({ KEYS[1] })
if bad then
  return bad
end
-- Every job is read before the first write (see lib.lua). A job whose key
-- holds another type is not held by anyone: it is reported lost, and
-- rescue dead-letters it when its lease ends.
local jobs = {}
for i = 2, #ARGV, 2 do
  jobs[#jobs + 1] = { pos = i / 2, id = ARGV[i], token = ARGV[i + 1],
    f = read_hash(job_key(tag, ARGV[i]), { 'state', 'token', 'unique_key' }) }
end
local done, gone = {}, {}
for _, job in ipairs(jobs) do
  local f = job.f
  if f and f[1] == 'running' and f[2] == job.token then
    release_unique(tag, job.id, f[3])
    redis.call('DEL', job_key(tag, job.id))
    gone[#gone + 1] = member(job.id)
    done[#done + 1] = job.pos
  end
end
if #gone > 0 then
  zrem_many(KEYS[1], gone)
end
return done
