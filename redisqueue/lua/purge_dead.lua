-- purge_dead.lua deletes dead-lettered jobs of one queue, a bounded batch
-- per call when it scans a time range.
--
-- Every member it reads is removed from the set it was read from and from
-- the queue's dead-letter set, whatever it finds, so a scan always moves
-- on: a member whose job hash is gone (or that names no job) is dropped
-- without being counted; a member whose job is not dead (waiting or
-- running: the member was stale) is dropped and the job left alone; a
-- dead job, or a key holding another type than a hash, is deleted.
--
-- KEYS[1] the dead-letter set to read: the queue's, or its set for one kind.
-- ARGV[1] queue tag, ARGV[2] died-before bound in microseconds (exclusive,
--         '' for none), ARGV[3] died-after bound (exclusive, '' for none),
--         ARGV[4] batch size, ARGV[5..] ids: when given, only these jobs.
-- Returns how many members it read, then the IDs it deleted.

local tag, before, after, batch = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local dead = tag .. ':dead'
local bad = check_zsets({ KEYS[1], dead })
if bad then
  return bad
end
local members = select_dead(KEYS[1], before, after, batch, false)

-- Every job is read before the first write (see lib.lua).
local jobs = {}
for i, m in ipairs(members) do
  local id = id_of(m)
  local job = { m = m, id = id }
  if id then
    job.f, job.t = read_hash(job_key(tag, id), { 'state', 'kind' })
    if job.f and redis.call('EXISTS', job_key(tag, id)) == 0 then
      job.gone = true
    end
  end
  jobs[i] = job
end

local out = { #members }
for _, job in ipairs(jobs) do
  local m, id, f = job.m, job.id, job.f
  redis.call('ZREM', KEYS[1], m)
  redis.call('ZREM', dead, m)
  if id and not job.gone then
    local live = f and (f[1] == 'available' or f[1] == 'scheduled' or f[1] == 'running')
    if not live then
      redis.call('DEL', job_key(tag, id))
      if f and f[2] and is_zset(dead_kind_key(tag, f[2])) then
        redis.call('ZREM', dead_kind_key(tag, f[2]), m)
      end
      out[#out + 1] = id
    end
  end
end
return out
