-- complete_recorded.lua is complete.lua for runs with output or a
-- retention (pgqueue.RunRecorder): a job kept for a retention stays as its
-- hash, in state completed with its finish time and output, and joins the
-- queue's history set scored by the time it may be dropped; a job not
-- kept is deleted as complete.lua does. The retry guard works the same.
--
-- KEYS[1] the queue's running set, KEYS[2] this batch's retry guard,
-- KEYS[3] the queue's history set.
-- ARGV[1] queue tag, ARGV[2] the guard's expiry in ms, then per job: id,
--         token, output ('' for none) and keep in microseconds.
-- Returns the positions (1-based) of the jobs it completed.

local answered = guarded_answer(KEYS[2])
if answered then
  return answered
end
local tag = ARGV[1]
local bad = check_zsets({ KEYS[1], KEYS[3] })
if bad then
  return bad
end
local held = held_jobs(tag, 3, 4, { 'state', 'token', 'unique_key' })
local now = int(now_us())
for _, job in ipairs(held) do
  release_unique(tag, job.id, job.f[3])
  local output, keep = ARGV[job.at + 2], tonumber(ARGV[job.at + 3])
  if keep > 0 then
    redis.call('HDEL', job.key, 'lease_until', 'claimed_by')
    redis.call('HSET', job.key, 'state', 'completed', 'finished_at', now)
    if output ~= '' then
      redis.call('HSET', job.key, 'output', output)
    end
    redis.call('ZADD', KEYS[3], int(now + keep), member(job.id))
  else
    redis.call('DEL', job.key)
  end
end
return answer_completed(KEYS[1], KEYS[2], ARGV[2], held)
