-- lib.lua is prepended, after core.lua, to every script but the one-job
-- enqueue (see scripts.go), so the scripts share one definition of the job
-- layout. It defines only local helpers and runs no command.
--
-- Every key a script touches is built from the queue's tag (ARGV[1], for
-- example "{pgqueue:default}"), so all of them hash to the queue's slot.

-- intfield parses a stored integer, returning nil for a missing, non-numeric,
-- infinite or out-of-range value (2^53 is where doubles stop being exact).
local function intfield(v)
  local n = tonumber(v)
  if n == nil or n ~= n or n >= 9007199254740992 or n <= -9007199254740992 then
    return nil
  end
  return math.floor(n)
end

-- id_of returns the job ID a member names, or nil for a member that names
-- no job (not digits, zero, or beyond the 2^53 IDs can reach): such a
-- member is garbage and is dropped with drop_member, never read as a job.
local function id_of(m)
  local id = string.match(m, '^0*(%d+)$')
  if not id or id == '0' or #id > 16 then
    return nil
  end
  return id
end

local function dead_kind_key(tag, kind)
  return tag .. ':dead:' .. kind
end

-- Redis does not undo the writes of a script that fails half-way, so a
-- script must not fail after its first write: every read of a key that
-- outside damage could give the wrong type goes through redis.pcall or a
-- TYPE check first, and a script checks the types of the sets it writes
-- before it writes anything.

-- read_hash reads fields of a job hash. For a key holding another type
-- (which makes HMGET fail with WRONGTYPE) it returns nil and that type.
local function read_hash(key, names)
  local f = redis.pcall('HMGET', key, unpack(names))
  if f.err then
    return nil, redis.call('TYPE', key).ok
  end
  return f
end

-- is_zset says whether key holds a sorted set or nothing (either can be
-- written with ZADD), remembering the answer for the rest of the script.
local zset_checked = {}
local function is_zset(key)
  local ok = zset_checked[key]
  if ok == nil then
    local t = redis.call('TYPE', key).ok
    ok = t == 'zset' or t == 'none'
    zset_checked[key] = ok
  end
  return ok
end

-- check_zsets returns an error reply naming the first of keys that holds
-- something other than a sorted set, or nil. Scripts call it before their
-- first write, so a damaged set fails the call with nothing changed.
local function check_zsets(keys)
  for _, key in ipairs(keys) do
    if not is_zset(key) then
      return redis.error_reply('redisqueue: key ' .. key .. ' holds a ' .. redis.call('TYPE', key).ok ..
        ', not a sorted set; nothing was changed')
    end
  end
  return nil
end

-- drop_member removes a member that names no job from set and reports
-- it in the queue's list of dropped members (newest first, the last 100),
-- "<µs> <set> <member>", where an operator can see what was removed.
local DROPPED_KEEP = 100
local function drop_member(tag, set, m, now)
  redis.call('ZREM', set, m)
  local list = tag .. ':dropped'
  -- A report must never fail the script: pcall, and nothing depends on it.
  redis.pcall('LPUSH', list, int(now) .. ' ' .. set .. ' ' .. string.sub(m, 1, 200))
  redis.pcall('LTRIM', list, 0, DROPPED_KEEP - 1)
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
    -- pcall: a damaged unique-key hash must not fail the script after
    -- the caller's first write; the key is then left for insert_jobs's
    -- holder check to free.
    local h = uniques_key(tag)
    if redis.pcall('HGET', h, ukey) == id then
      redis.pcall('HDEL', h, ukey)
    end
    redis.pcall('HDEL', job_key(tag, id), 'unique_key')
  end
end

local GONE = 'the job hash is gone (deleted or evicted: is maxmemory-policy noeviction?)'

-- bury dead-letters a job whose stored hash is unusable (fields missing or
-- not numbers, the whole hash gone, or its key holding another type) with
-- a "decode" error saying why. The caller has already removed its member
-- from the set it was found in. A history that is not an array is kept
-- aside in errors_unreadable. A key of another type is replaced by a stub
-- hash; its value is kept, as DUMP gives it, in the stub's corrupt_dump
-- field (RESTORE brings it back) and its type in corrupt_type. With reason
-- nil the reason is the hash being gone or of the wrong type.
local function bury(tag, queue, id, kind, now, at, reason)
  local key = job_key(tag, id)
  local t = redis.call('TYPE', key).ok
  local aside
  if t ~= 'hash' and t ~= 'none' then
    aside = redis.call('DUMP', key)
    redis.call('DEL', key)
    reason = 'the job key holds a ' .. t .. ', not a hash (its value is kept in the dead job\'s corrupt_dump field, as DUMP gives it)'
  elseif t == 'none' then
    reason = reason or GONE
  end
  reason = reason or 'the stored job is corrupt'
  local f = redis.call('HMGET', key, 'kind', 'attempt', 'errors', 'unique_key')
  kind = f[1] or kind or ''
  if aside then
    redis.call('HSET', key, 'corrupt_type', t, 'corrupt_dump', aside)
  end
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
  -- The per-kind index is skipped if damaged: the queue's set still
  -- lists the job, and failing here would undo nothing already written.
  if is_zset(dead_kind_key(tag, kind)) then
    redis.call('ZADD', dead_kind_key(tag, kind), int(now), m)
  end
end

-- give_back moves a running job whose holder is gone (lease expired,
-- liveness lost), already out of the running set, on: into its available
-- set with the error (its tail after the attempt number) appended while it
-- has attempts left, else into the dead set dead_key with its unique key
-- released. f holds state, kind, priority, attempt, max_attempts, errors,
-- unique key. It returns true when the job was requeued.
local function give_back(tag, id, m, f, attempt, max_attempts, tail, now, dead_key)
  local key = job_key(tag, id)
  local hist = append_error(f[6], '{"attempt":' .. int(attempt) .. tail)
  redis.call('HDEL', key, 'lease_until', 'claimed_by')
  if attempt < max_attempts then
    redis.call('HSET', key, 'state', 'available', 'run_at', int(now), 'errors', hist)
    redis.call('ZADD', avail_key(tag, f[2]), int(avail_score(intfield(f[3]), now)), m)
    return true
  end
  release_unique(tag, id, f[7])
  redis.call('HSET', key, 'state', 'dead', 'died_at', int(now), 'errors', hist)
  redis.call('ZADD', dead_key, int(now), m)
  if is_zset(dead_kind_key(tag, f[2])) then
    redis.call('ZADD', dead_kind_key(tag, f[2]), int(now), m)
  end
  return false
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
-- queue in names (see queue_index in core.lua). Returns the first ID and
-- the list of indexes.
local function alloc_ids(ids_key, queues_key, index_key, n, names)
  local first = redis.call('INCRBY', ids_key, n) - n + 1
  local indexes = {}
  for i, name in ipairs(names) do
    indexes[i] = queue_index(queues_key, index_key, name)
  end
  return first, indexes
end

-- check_insert returns an error reply if insert_jobs could not store
-- every job of its call (same arguments), else nil. It writes nothing, so
-- the caller runs it before its first write: a call that cannot finish
-- changes nothing. A job key that exists already means the ID counter went
-- back (deleted, evicted, or restored from an older snapshot than the
-- jobs): storing over it would lose a job, and skipping it would lose the
-- new one while reporting it stored.
local function check_insert(tag, sched_key, first, argv, from, count)
  local bad = check_zsets({ sched_key })
  if bad then
    return bad
  end
  local uniques_ok = nil
  for i = from, from + 8 * (count - 1), 8 do
    local key = job_key(tag, int(first + tonumber(argv[i])))
    if redis.call('EXISTS', key) == 1 then
      return redis.error_reply('redisqueue: job key ' .. key .. ' exists already: the job ID counter went ' ..
        'back (was it deleted, evicted or restored from an older snapshot?); nothing of this call was stored')
    end
    bad = check_zsets({ avail_key(tag, argv[i + 1]) })
    if bad then
      return bad
    end
    if argv[i + 7] ~= '' and uniques_ok == nil then
      local t = redis.call('TYPE', uniques_key(tag)).ok
      uniques_ok = t == 'hash' or t == 'none'
      if not uniques_ok then
        return redis.error_reply('redisqueue: key ' .. uniques_key(tag) .. ' holds a ' .. t ..
          ', not a hash; nothing was changed')
      end
    end
  end
  return nil
end

-- insert_jobs stores count jobs of one queue, read from argv[from..] as
-- eight values each (offset in the batch, kind, priority, args, max
-- attempts, run-at in microseconds or '' for now, metadata as a JSON object
-- or '', unique key or ''); a job's ID is first + offset. Due jobs become
-- available, the others scheduled, and the queue's listeners are woken if
-- any became available. The caller has run check_insert on the same
-- arguments, so no job key exists yet and every set can be written.
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
    if ukey ~= '' then
      holder = redis.call('HGET', uniques, ukey)
      if holder then
        -- A holder that no longer waits or runs under this key (a state
        -- change that missed the release, or a damaged holder) frees it.
        local h = read_hash(job_key(tag, holder), { 'state', 'unique_key' })
        if not h or h[2] ~= ukey or not (h[1] == 'available' or h[1] == 'scheduled' or h[1] == 'running') then
          holder = nil
        end
      end
    end
    if holder then
      dups[#dups + 1] = argv[i]
      dups[#dups + 1] = holder
    else
      local run_at = now
      if argv[i + 5] ~= '' then
        run_at = tonumber(argv[i + 5])
      end
      local state = 'available'
      if run_at > now then
        state = 'scheduled'
      end
      hset_new_job(key, kind, queue, prio, args, max_attempts, token, now_s, int(run_at), state, argv[i + 6])
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

-- held_jobs reads every job named in ARGV from index first on, stride
-- values per job (its ID, its token, then the caller's own), all before
-- the caller's first write (see read_hash), and returns those still
-- running under their token, in order, each as { pos (its 1-based place
-- among the jobs named), id, at (the ARGV index of its ID), key, f (the
-- fields names asks for, which start with 'state' and 'token') }. A job
-- whose key holds another type is not held by anyone: it is left out, so
-- its caller reports it lost, and rescue dead-letters it when its lease
-- ends.
local function held_jobs(tag, first, stride, names)
  local jobs = {}
  for i = first, #ARGV, stride do
    local key = job_key(tag, ARGV[i])
    jobs[#jobs + 1] = { pos = (i - first) / stride + 1, id = ARGV[i], token = ARGV[i + 1], at = i, key = key,
      f = read_hash(key, names) }
  end
  local held = {}
  for _, job in ipairs(jobs) do
    if job.f and job.f[1] == 'running' and job.f[2] == job.token then
      held[#held + 1] = job
    end
  end
  return held
end

-- answer_completed ends complete.lua and complete_recorded.lua once the
-- held jobs are finished: they leave the running set, and the batch's
-- retry guard keeps the answer, their positions, for a resend (see
-- complete.lua).
local function answer_completed(running, guard, expiry_ms, held)
  local done, gone = {}, {}
  for _, job in ipairs(held) do
    done[#done + 1] = job.pos
    gone[#gone + 1] = member(job.id)
  end
  if #gone > 0 then
    zrem_many(running, gone)
  end
  redis.call('SET', guard, table.concat(done, ','), 'PX', expiry_ms)
  return done
end

-- rescued ends rescue.lua and liveness_rescue.lua: the queue is woken if
-- any job was made available again, and the answer says, beside the
-- counts, whether the batch was full (seen >= batch: more may wait).
local function rescued(channel, queue, requeued, dead, seen, batch)
  if requeued > 0 then
    redis.call('PUBLISH', channel, queue)
  end
  local full = 0
  if seen >= batch then
    full = 1
  end
  return { requeued, dead, full }
end

-- guarded_answer returns the answer (positions) that the first run of a
-- batch left in its retry guard key, or nil when there is none: a resent
-- batch then gets the first run's answer (see complete.lua).
local function guarded_answer(guard)
  local done = redis.call('GET', guard)
  if not done then
    return nil
  end
  local out = {}
  for v in string.gmatch(done, '%d+') do
    out[#out + 1] = tonumber(v)
  end
  return out
end
