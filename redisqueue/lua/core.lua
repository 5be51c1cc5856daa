-- core.lua is prepended to every script, before lib.lua: the few helpers
-- that the lean enqueue (enqueue_lean.lua) needs as well as the others,
-- kept apart so that the hot script does not define, on every call, the
-- thirty-odd helpers of lib.lua it never uses. Like lib.lua it defines
-- only locals and runs no command.
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

-- Sorted-set members are job IDs zero-padded to 19 digits, so that members
-- with equal scores sort by ID (Redis orders ties lexicographically).
local function member(id)
  return string.rep('0', 19 - #id) .. id
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

local TOKEN_BASE = 4294967296 -- 2^32: a queue index's weight in a token

-- queue_index returns the index of queue name, registering a queue not
-- seen before. A queue's index is fixed for good: a job's tokens are
-- index * 2^32 + its claim count, so a token names its job's queue (see
-- the package documentation).
local function queue_index(queues_key, index_key, name)
  local index = redis.call('HGET', queues_key, name)
  if not index then
    index = redis.call('HLEN', index_key) + 1
    redis.call('HSET', queues_key, name, index)
    redis.call('HSET', index_key, index, name)
  end
  return tonumber(index)
end

-- hset_new_job writes a new job's hash: the one definition of what an
-- insert writes, whichever script inserts. The fields go to HSET directly
-- rather than through a table and unpack, because the lean enqueue runs
-- this for every job. metadata is a JSON object or ''; a job holding a
-- unique key gets that field from its caller.
local function hset_new_job(key, kind, queue, priority, args, max_attempts, token, created_at, run_at, state, metadata)
  if metadata == '' then
    return redis.call('HSET', key, 'kind', kind, 'queue', queue, 'priority', priority, 'args', args,
      'attempt', '0', 'max_attempts', max_attempts, 'token', token, 'errors', '',
      'created_at', created_at, 'run_at', run_at, 'state', state)
  end
  return redis.call('HSET', key, 'kind', kind, 'queue', queue, 'priority', priority, 'args', args,
    'attempt', '0', 'max_attempts', max_attempts, 'token', token, 'errors', '',
    'created_at', created_at, 'run_at', run_at, 'state', state, 'metadata', metadata)
end
