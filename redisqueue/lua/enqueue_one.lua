-- enqueue_one.lua stores one new job without a unique key, the commonest
-- Insert, on a single Redis server (plain or failover client), in one
-- atomic step and one round trip. It stores what enqueue.lua would store
-- for the same job; it is a separate script because it is the hot path of
-- every one-job Enqueue, and each command a script runs, and each helper
-- it defines, is paid on every call. So it gets core.lua only, not
-- lib.lua, and it runs as few commands as the guarantees allow:
--
--   * the retry guard is taken with one SET NX after the ID is allocated,
--     rather than a GET before and a SET after: a resend (go-redis resends
--     a script whose reply was lost) finds the guard taken, answers the
--     first run's ID and leaves the ID it just took unused;
--   * the type of the one set the job goes into is checked by adding to
--     it first (ZADD fails on a set of another type, writing nothing),
--     rather than by a TYPE of each set beforehand.
--
-- Nothing is left written on a failure but the unused ID and the queue's
-- registration, as with enqueue.lua: a job key that exists already (the ID
-- counter went back) or a set of the wrong type fails the call before the
-- first write of the job, and the guard taken for it is dropped.
--
-- KEYS[1] ID counter, KEYS[2] hash queue name -> index, KEYS[3] hash
--         index -> queue name, KEYS[4] this call's retry guard, KEYS[5]
--         the queue's available set of the job's kind, KEYS[6] the queue's
--         scheduled set.
-- ARGV[1] queue tag, ARGV[2] wake channel, ARGV[3] queue name, ARGV[4]
--         kind, ARGV[5] priority, ARGV[6] args, ARGV[7] max attempts,
--         ARGV[8] run-at in microseconds or '' for now, ARGV[9] metadata
--         (a JSON object) or '', ARGV[10] the guard's expiry in ms.
-- Returns { the job's ID, the queue's index }, or { the job's ID } when
-- the call is a resend answered by the guard.

local id = int(redis.call('INCRBY', KEYS[1], 1))
if not redis.call('SET', KEYS[4], id, 'NX', 'PX', ARGV[10]) then
  return { tonumber(redis.call('GET', KEYS[4])) }
end
local key = job_key(ARGV[1], id)
if redis.call('EXISTS', key) == 1 then
  redis.call('DEL', KEYS[4])
  return redis.error_reply('redisqueue: job key ' .. key .. ' exists already: the job ID counter went ' ..
    'back (was it deleted, evicted or restored from an older snapshot?); nothing of this call was stored')
end
local index = queue_index(KEYS[2], KEYS[3], ARGV[3])
local now = now_us()
local run_at, state, set, score = now, 'available', KEYS[5], nil
if ARGV[8] ~= '' then
  run_at = tonumber(ARGV[8])
end
if run_at > now then
  state, set, score = 'scheduled', KEYS[6], run_at
else
  score = avail_score(tonumber(ARGV[5]), run_at)
end
local added = redis.pcall('ZADD', set, int(score), member(id))
if type(added) == 'table' and added.err then
  redis.call('DEL', KEYS[4])
  return redis.error_reply('redisqueue: key ' .. set .. ' holds a ' .. redis.call('TYPE', set).ok ..
    ', not a sorted set; nothing was changed')
end
redis.call('HSET', key, unpack(new_job_fields(ARGV[4], ARGV[3], ARGV[5], ARGV[6], ARGV[7],
  int(index * TOKEN_BASE), int(now), int(run_at), state, ARGV[9])))
if state == 'available' then
  redis.call('PUBLISH', ARGV[2], ARGV[3])
end
return { tonumber(id), index }
