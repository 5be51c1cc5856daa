-- lib.lua is prepended to every other script when the package loads it, so
-- the scripts share one definition of the job layout. It defines only local
-- helpers and runs no command.
--
-- Every key a script touches is built from the queue's tag (ARGV[1], for
-- example "{pgqueue:default}"), so all of them hash to the queue's slot.
--
-- Numbers are written with int() rather than left to Redis's conversion of
-- Lua numbers, which may use an exponent for large values.

local function int(n)
  return string.format('%d', n)
end

-- now_us is the Redis server's clock in microseconds since the epoch: all
-- leases and run-at times use it, so client clock skew does not matter.
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- intfield parses a stored integer, returning nil for a missing, non-numeric,
-- infinite or out-of-range value (2^53 is where doubles stop being exact).
local function intfield(v)
  local n = tonumber(v)
  if n == nil or n ~= n or n >= 9007199254740992 or n <= -9007199254740992 then
    return nil
  end
  return math.floor(n)
end

-- Sorted-set members are job IDs zero-padded to 19 digits, so that members
-- with equal scores sort by ID (Redis orders ties lexicographically).
local function member(id)
  return string.rep('0', 19 - #id) .. id
end

local function id_of(m)
  return (string.match(m, '^0*(%d+)$'))
end

-- An available job's score puts priority first and its run-at, in
-- milliseconds, second: priority * 2^42 + ms. 2^42 ms reaches the year
-- 2109, and priorities up to 1023 keep the score below 2^53.
local PRIORITY_SHIFT = 4398046511104
local function avail_score(priority, run_at)
  local ms = math.floor(run_at / 1000)
  if ms < 0 then
    ms = 0
  elseif ms >= PRIORITY_SHIFT then
    ms = PRIORITY_SHIFT - 1
  end
  return priority * PRIORITY_SHIFT + ms
end

local function job_key(tag, id)
  return tag .. ':job:' .. id
end

local function avail_key(tag, kind)
  return tag .. ':avail:' .. kind
end

local function dead_kind_key(tag, kind)
  return tag .. ':dead:' .. kind
end

-- A history is a JSON array kept as text; appending never decodes it.
local function is_array(hist)
  return string.sub(hist, 1, 1) == '[' and string.sub(hist, -1) == ']'
end

local function append_error(hist, e)
  if not hist or hist == '' or hist == '[]' then
    return '[' .. e .. ']'
  end
  return string.sub(hist, 1, -2) .. ',' .. e .. ']'
end

-- zadd_many adds score/member pairs (a flat list) to a sorted set, in
-- chunks: unpack's stack is limited.
local function zadd_many(key, pairs_list)
  for i = 1, #pairs_list, 1000 do
    redis.call('ZADD', key, unpack(pairs_list, i, math.min(i + 999, #pairs_list)))
  end
end

-- zrem_many removes members (a list) from a sorted set, in chunks.
local function zrem_many(key, members)
  for i = 1, #members, 500 do
    redis.call('ZREM', key, unpack(members, i, math.min(i + 499, #members)))
  end
end

-- error_json builds one attempt error as the Go side's AttemptError JSON.
local function error_json(attempt, at, text, kind)
  return '{"attempt":' .. int(attempt) .. ',"at":' .. cjson.encode(at) ..
    ',"error":' .. cjson.encode(text) .. ',"kind":' .. cjson.encode(kind) .. '}'
end

-- uniques_key is the hash of a queue's held unique keys: key -> ID of
-- the waiting or running job holding it.
local function uniques_key(tag)
  return tag .. ':unique'
end

-- release_unique frees the unique key ukey of job id (a string, no
-- padding) if the job still holds it, and drops the key from the job's
-- hash, so that the job, once requeued from the dead letters, is not
-- unique any more. Called whenever a job stops waiting or running.
local function release_unique(tag, id, ukey)
  if ukey and ukey ~= '' then
    local h = uniques_key(tag)
    if redis.call('HGET', h, ukey) == id then
      redis.call('HDEL', h, ukey)
    end
    redis.call('HDEL', job_key(tag, id), 'unique_key')
  end
end

-- bury dead-letters a job whose stored hash is unusable (fields missing or
-- not numbers, or the whole hash gone) with a "decode" error saying why. The
-- caller has already removed its member from the set it was found in. A
-- history that is not an array is kept aside in errors_unreadable.
local function bury(tag, queue, id, kind, now, at, reason)
  local key = job_key(tag, id)
  local f = redis.call('HMGET', key, 'kind', 'attempt', 'errors', 'unique_key')
  kind = f[1] or kind or ''
  release_unique(tag, id, f[4])
  local hist = f[3]
  if hist and hist ~= '' and not is_array(hist) then
    redis.call('HSET', key, 'errors_unreadable', hist)
    hist = ''
  end
  local e = error_json(intfield(f[2]) or 0, at, 'redisqueue: job ' .. id .. ': ' .. reason, 'decode')
  redis.call('HSET', key, 'kind', kind, 'queue', queue, 'state', 'dead', 'died_at', int(now),
    'errors', append_error(hist, e))
  redis.call('HDEL', key, 'lease_until', 'claimed_by')
  local m = member(id)
  redis.call('ZADD', tag .. ':dead', int(now), m)
  redis.call('ZADD', dead_kind_key(tag, kind), int(now), m)
end

-- missing_fields lists the fields of f (values from HMGET) named in names
-- that are absent, and, for the names also in numeric, not integers.
local function missing_fields(f, names, numeric)
  local bad = {}
  for i, name in ipairs(names) do
    if f[i] == false then
      bad[#bad + 1] = name .. ' (missing)'
    elseif numeric[name] and intfield(f[i]) == nil then
      bad[#bad + 1] = name .. ' (not an integer: ' .. string.sub(f[i], 1, 40) .. ')'
    end
  end
  return bad
end

-- alloc_ids takes n IDs from the prefix's counter and the index of each
-- queue in names, registering queues not seen before. A queue's index is
-- fixed for good: a job's tokens are index * 2^32 + its claim count, so a
-- token names its job's queue (see the package documentation).
-- Returns the first ID and the list of indexes.
local function alloc_ids(ids_key, queues_key, index_key, n, names)
  local first = redis.call('INCRBY', ids_key, n) - n + 1
  local indexes = {}
  for i, name in ipairs(names) do
    local index = redis.call('HGET', queues_key, name)
    if not index then
      index = redis.call('HLEN', index_key) + 1
      redis.call('HSET', queues_key, name, index)
      redis.call('HSET', index_key, index, name)
    end
    indexes[i] = tonumber(index)
  end
  return first, indexes
end

local TOKEN_BASE = 4294967296 -- 2^32: a queue index's weight in a token

-- insert_jobs stores count jobs of one queue, read from argv[from..] as
-- eight values each (offset in the batch, kind, priority, args, max
-- attempts, run-at in microseconds or '' for now, metadata as a JSON object
-- or '', unique key or ''); a job's ID is first + offset. Due jobs become
-- available, the others scheduled, and the queue's listeners are woken if
-- any became available. A job whose hash exists already is skipped, so a
-- call retried after a lost reply cannot reset a job a worker may hold.
--
-- A job whose unique key is held, in this queue, by a waiting or running
-- job (including an earlier job of this call) is not stored. Returns how
-- many jobs it wrote and a flat list of offset, holder ID for each job
-- skipped as a duplicate.
local function insert_jobs(tag, channel, queue, index, sched_key, first, argv, from, count)
  local now = now_us()
  local now_s, token = int(now), int(index * TOKEN_BASE)
  local written, dups = 0, {}
  local uniques = uniques_key(tag)
  -- Sorted-set entries are gathered and added with one call per set.
  local avail, avail_order, sched = {}, {}, {}
  for i = from, from + 8 * (count - 1), 8 do
    local id = int(first + tonumber(argv[i]))
    local kind, prio, args, max_attempts = argv[i + 1], argv[i + 2], argv[i + 3], argv[i + 4]
    local ukey = argv[i + 7]
    local key = job_key(tag, id)
    local holder = nil
    if ukey ~= '' and redis.call('EXISTS', key) == 0 then
      holder = redis.call('HGET', uniques, ukey)
      if holder then
        -- A holder that no longer waits or runs under this key (a state
        -- change that missed the release) frees it.
        local h = redis.call('HMGET', job_key(tag, holder), 'state', 'unique_key')
        if h[2] ~= ukey or not (h[1] == 'available' or h[1] == 'scheduled' or h[1] == 'running') then
          holder = nil
        end
      end
    end
    if holder then
      dups[#dups + 1] = argv[i]
      dups[#dups + 1] = holder
    elseif redis.call('EXISTS', key) == 0 then
      local run_at = now
      if argv[i + 5] ~= '' then
        run_at = tonumber(argv[i + 5])
      end
      local state = 'available'
      if run_at > now then
        state = 'scheduled'
      end
      redis.call('HSET', key, 'kind', kind, 'queue', queue, 'priority', prio, 'args', args,
        'attempt', '0', 'max_attempts', max_attempts, 'token', token, 'errors', '',
        'created_at', now_s, 'run_at', int(run_at), 'state', state)
      if argv[i + 6] ~= '' then
        redis.call('HSET', key, 'metadata', argv[i + 6])
      end
      if ukey ~= '' then
        redis.call('HSET', key, 'unique_key', ukey)
        redis.call('HSET', uniques, ukey, id)
      end
      local m = member(id)
      if state == 'available' then
        if not avail[kind] then
          avail[kind] = {}
          avail_order[#avail_order + 1] = kind
        end
        local list = avail[kind]
        list[#list + 1] = int(avail_score(tonumber(prio), run_at))
        list[#list + 1] = m
      else
        sched[#sched + 1] = int(run_at)
        sched[#sched + 1] = m
      end
      written = written + 1
    end
  end
  for _, kind in ipairs(avail_order) do
    zadd_many(avail_key(tag, kind), avail[kind])
  end
  if #sched > 0 then
    zadd_many(sched_key, sched)
  end
  if #avail_order > 0 then
    redis.call('PUBLISH', channel, queue)
  end
  return written, dups
end

-- select_dead picks members of the dead-letter set dead_key whose died-at
-- score is below before and above after ('' for no bound), for ListDead
-- (newest first) and PurgeDead (oldest first). With job IDs in ARGV[5..],
-- only those jobs (membership of dead_key applies the kind filter);
-- otherwise at most limit of them.
local function select_dead(dead_key, before, after, limit, newest_first)
  local members = {}
  if #ARGV > 4 then
    for i = 5, #ARGV do
      local m = member(ARGV[i])
      local score = redis.call('ZSCORE', dead_key, m)
      if score then
        score = tonumber(score)
        if (before == '' or score < tonumber(before)) and (after == '' or score > tonumber(after)) then
          members[#members + 1] = m
        end
      end
    end
    return members
  end
  local hi, lo = '+inf', '-inf'
  if before ~= '' then
    hi = '(' .. before
  end
  if after ~= '' then
    lo = '(' .. after
  end
  if newest_first then
    return redis.call('ZREVRANGEBYSCORE', dead_key, hi, lo, 'LIMIT', 0, limit)
  end
  return redis.call('ZRANGEBYSCORE', dead_key, lo, hi, 'LIMIT', 0, limit)
end
