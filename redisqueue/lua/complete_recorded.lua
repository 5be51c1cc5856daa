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
-- Every job is read before the first write (see lib.lua).
local jobs = {}
for i = 3, #ARGV, 4 do
  jobs[#jobs + 1] = { pos = (i + 1) / 4, id = ARGV[i], token = ARGV[i + 1],
    output = ARGV[i + 2], keep = tonumber(ARGV[i + 3]),
    f = read_hash(job_key(tag, ARGV[i]), { 'state', 'token', 'unique_key' }) }
end
local done = {}
local gone = {}
local now = int(now_us())
for _, job in ipairs(jobs) do
  local f = job.f
  if f and f[1] == 'running' and f[2] == job.token then
    release_unique(tag, job.id, f[3])
    local key = job_key(tag, job.id)
    if job.keep > 0 then
      redis.call('HDEL', key, 'lease_until', 'claimed_by')
      redis.call('HSET', key, 'state', 'completed', 'finished_at', now)
      if job.output ~= '' then
        redis.call('HSET', key, 'output', job.output)
      end
      redis.call('ZADD', KEYS[3], int(now + job.keep), member(job.id))
    else
      redis.call('DEL', key)
    end
    gone[#gone + 1] = member(job.id)
    done[#done + 1] = job.pos
  end
end
if #gone > 0 then
  zrem_many(KEYS[1], gone)
end
redis.call('SET', KEYS[2], table.concat(done, ','), 'PX', ARGV[2])
return done
