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
local held = held_jobs(tag, 3, 2, { 'state', 'token', 'unique_key' })
for _, job in ipairs(held) do
  release_unique(tag, job.id, job.f[3])
  redis.call('DEL', job.key)
end
return answer_completed(KEYS[1], KEYS[2], ARGV[2], held)
