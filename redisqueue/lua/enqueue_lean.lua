-- enqueue_lean.lua stores new jobs without unique keys, each of them the
-- one job of an Insert call (the commonest call: Enqueue) or several such
-- calls that arrived together (see coalescer in insert.go), on a single
-- Redis server (plain or failover client), in one atomic step and one
-- round trip. It stores what enqueue.lua would store for the same jobs; it
-- is a separate script because it is the hot path of every one-job
-- Enqueue, and each command a script runs, and each helper it defines, is
-- paid on every call. So it gets core.lua only, not lib.lua, and it runs
-- as few commands as the guarantees allow:
--
--   * the retry guard is taken with one SET NX after the IDs are
--     allocated, rather than a GET before and a SET after: a resend
--     (go-redis resends a script whose reply was lost) finds the guard
--     taken, answers the first run's first ID and leaves the IDs it just
--     took unused;
--   * when every job goes to one set (a lone job, or concurrent Enqueues
--     of one kind to one queue), that set is type-checked by adding to it
--     first (ZADD on a key of another type fails, writing nothing), rather
--     than by a TYPE beforehand; with several sets each gets one TYPE;
--   * with several jobs, one EXISTS checks all their keys, and one ZADD
--     per set adds them.
--
-- Nothing is left written on a failure but unused IDs, as with
-- enqueue.lua: a job key that exists already (the ID counter went back) or
-- a set of the wrong type fails the call before the first write of any
-- job, and the guard taken for it is dropped.
--
-- KEYS[1] ID counter, KEYS[2] hash queue name -> index, KEYS[3] hash
--         index -> queue name, KEYS[4] this call's retry guard.
-- ARGV[1] wake channel, ARGV[2] the guard's expiry in ms, then eight
--         values per job: its queue's tag, its queue's name, kind,
--         priority, args, max attempts, run-at in microseconds or '' for
--         now, metadata (a JSON object) or ''.
-- Returns { the first job's ID, then the index of each job's queue }; the
-- jobs' IDs are consecutive, in ARGV order. A resend answered by the guard
-- returns { the first ID } alone.

local n = (#ARGV - 2) / 8
local first = redis.call('INCRBY', KEYS[1], n) - n + 1
if not redis.call('SET', KEYS[4], int(first), 'NX', 'PX', ARGV[2]) then
  return { tonumber(redis.call('GET', KEYS[4])) }
end
local function refuse(msg)
  redis.call('DEL', KEYS[4])
  return redis.error_reply(msg)
end
local function wrong_type(set)
  return refuse('redisqueue: key ' .. set .. ' holds a ' .. redis.call('TYPE', set).ok ..
    ', not a sorted set; nothing was changed')
end

-- Check every job before writing any, and work out where each goes. What
-- is the same for many jobs (the clock's string, a score, a queue's token)
-- is worked out once: this loop runs for every job of every Enqueue.
local now = now_us()
local now_s = int(now)
local keys, run_ats, states = {}, {}, {}
local sets, order = {}, {} -- set -> its score/member pairs, sets in first-use order
local last_score, last_score_s
for j = 1, n do
  local a = 8 * j - 5
  local tag, id = ARGV[a], int(first + j - 1)
  local run_at, run_at_s = now, now_s
  if ARGV[a + 6] ~= '' then
    run_at = tonumber(ARGV[a + 6])
    run_at_s = int(run_at)
  end
  local set, score
  if run_at > now then
    states[j], set, score = 'scheduled', tag .. ':sched', run_at
  else
    states[j], set, score = 'available', avail_key(tag, ARGV[a + 2]), avail_score(tonumber(ARGV[a + 3]), run_at)
  end
  if score ~= last_score then
    last_score, last_score_s = score, int(score)
  end
  local list = sets[set]
  if not list then
    list = {}
    sets[set] = list
    order[#order + 1] = set
  end
  list[#list + 1] = last_score_s
  list[#list + 1] = member(id)
  keys[j] = job_key(tag, id)
  run_ats[j] = run_at_s
end
-- One EXISTS for all the keys; which one exists is only looked for when
-- one does.
if redis.call('EXISTS', unpack(keys)) > 0 then
  for _, key in ipairs(keys) do
    if redis.call('EXISTS', key) == 1 then
      return refuse('redisqueue: job key ' .. key .. ' exists already: the job ID counter went ' ..
        'back (was it deleted, evicted or restored from an older snapshot?); nothing of this call was stored')
    end
  end
end
if #order > 1 then
  for _, set in ipairs(order) do
    local t = redis.call('TYPE', set).ok
    if t ~= 'zset' and t ~= 'none' then
      return wrong_type(set)
    end
  end
  for _, set in ipairs(order) do
    redis.call('ZADD', set, unpack(sets[set]))
  end
else
  local set = order[1]
  local added = redis.pcall('ZADD', set, unpack(sets[set]))
  if type(added) == 'table' and added.err then
    return wrong_type(set)
  end
end

local out, indexes, tokens, woken = { first }, {}, {}, {}
for j = 1, n do
  local a = 8 * j - 5
  local queue = ARGV[a + 1]
  local index = indexes[queue]
  if not index then
    index = queue_index(KEYS[2], KEYS[3], queue)
    indexes[queue] = index
    tokens[queue] = int(index * TOKEN_BASE)
  end
  hset_new_job(keys[j], ARGV[a + 2], queue, ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], tokens[queue], now_s, run_ats[j],
    states[j], ARGV[a + 7])
  if states[j] == 'available' and not woken[queue] then
    redis.call('PUBLISH', ARGV[1], queue)
    woken[queue] = true
  end
  out[j + 1] = index
end
return out
