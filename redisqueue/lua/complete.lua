-- complete.lua deletes running jobs of one queue that are still held under
-- the given fencing tokens, freeing their unique keys.
--
-- go-redis resends a script whose reply was lost, and the engine retries
-- a batch whose call failed. The resend would find the jobs gone and
-- report them lost although they were completed, so the first run leaves
-- a guard key, in the queue's slot, named after the batch's IDs and tokens
-- (tokens are never reused) and holding its answer; a resend finds it and
-- answers the same without checking the jobs again.
--
-- KEYS[1] the queue's running set, KEYS[2] this batch's retry guard.
-- ARGV[1] queue tag, ARGV[2] the guard's expiry in ms, then an id and a
--         token per job.
-- Returns the positions (1-based) of the jobs it completed.

local answered = guarded_answer(KEYS[2])
if answered then
  return answered
end
local tag = ARGV[1]
local bad = check_zsets({ KEYS[1] })
if bad then
  return bad
end
-- Every job is read before the first write (see lib.lua). A job whose key
-- holds another type is not held by anyone: it is reported lost, and
-- rescue dead-letters it when its lease ends.
local jobs = {}
for i = 3, #ARGV, 2 do
  jobs[#jobs + 1] = { pos = (i - 1) / 2, id = ARGV[i], token = ARGV[i + 1],
    f = read_hash(job_key(tag, ARGV[i]), { 'state', 'token', 'unique_key' }) }
end
local done = {}
local gone = {}
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
redis.call('SET', KEYS[2], table.concat(done, ','), 'PX', ARGV[2])
return done
