-- claim.lua takes up to a limit of available jobs of one queue whose kind is
-- in the given list, in priority, run-at, ID order, marks them running with
-- a lease and a fresh fencing token, and returns them.
--
-- Each kind has its own available set, so only the sets of the asked-for
-- kinds are read: jobs of other kinds are never seen, and the cost is
-- O(kinds * limit * log n) whatever else the queue holds. The heads of the
-- sets are merged by score (priority, then run-at in ms) and member
-- (zero-padded ID).
--
-- A job whose hash is unusable (fields missing or not numbers, the hash
-- gone, or its key holding another type) is dead-lettered here with the
-- reason, and a member that names no job is dropped (see drop_member);
-- the claim goes on with the next job. Every chosen job is read before
-- any write, and nothing after the first write can fail, so one damaged
-- entry never leaves the others taken out of their set and not claimed.
--
-- The queue's config hash is read first: a paused queue gives nothing, and
-- the queue's global limits cap the claim: no more than max_running minus
-- the jobs running now (the running set's size), and no more than the
-- whole tokens of the rate bucket (burst tokens, refilled at rate per
-- second), which then pays one token per job claimed.
--
-- KEYS[1] the queue's running set, KEYS[2] its config hash, KEYS[3..] the
--         available set of each kind.
-- ARGV[1] queue tag, ARGV[2] queue name, ARGV[3] limit, ARGV[4] lease in
--         microseconds, ARGV[5] claiming client ID, ARGV[6] the time to
--         stamp on errors (RFC 3339), ARGV[7..] the kind of each of KEYS[3..].
-- Returns one array per job: id, kind, priority, args, attempt, max
-- attempts, errors, created-at, run-at, attempted-at, lease-until, token,
-- metadata (times in microseconds; metadata a JSON object or '').

local tag, queue = ARGV[1], ARGV[2]
local limit, lease, client, at = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], ARGV[6]
local now = now_us()
local now_s, until_s = int(now), int(now + lease)

do
  local sets = {}
  for k = 1, #KEYS do
    if k ~= 2 then
      sets[#sets + 1] = KEYS[k]
    end
  end
  local bad = check_zsets(sets)
  if bad then
    return bad
  end
end

local cfg = redis.call('HMGET', KEYS[2], 'paused', 'max_running', 'rate', 'burst', 'tokens', 'tokens_at')
if cfg[1] then
  return {}
end
local max_running = tonumber(cfg[2])
if max_running and max_running > 0 then
  limit = math.min(limit, math.max(0, max_running - redis.call('ZCARD', KEYS[1])))
end
local rate, burst, tokens = tonumber(cfg[3]), tonumber(cfg[4]), nil
if rate and rate > 0 and burst then
  tokens = tonumber(cfg[5]) or burst
  local since = now - (tonumber(cfg[6]) or now)
  if since > 0 then
    tokens = math.min(burst, tokens + since / 1000000 * rate)
  end
  limit = math.min(limit, math.floor(tokens))
end

local names = { 'kind', 'priority', 'args', 'attempt', 'max_attempts', 'token', 'created_at', 'run_at', 'errors', 'metadata' }
local numeric = { priority = true, attempt = true, max_attempts = true, token = true, created_at = true, run_at = true }
local required = { 'kind', 'priority', 'args', 'attempt', 'max_attempts', 'token', 'created_at', 'run_at' }

local out, claimed = {}, {}
while #out < limit do
  local need = limit - #out
  local cands = {}
  for k = 3, #KEYS do
    local r = redis.call('ZRANGE', KEYS[k], 0, need - 1, 'WITHSCORES')
    for i = 1, #r, 2 do
      cands[#cands + 1] = { m = r[i], s = tonumber(r[i + 1]), k = k }
    end
  end
  if #cands == 0 then
    break
  end
  -- One set comes out of ZRANGE in order already; several are merged.
  if #KEYS > 3 then
    table.sort(cands, function(a, b)
      if a.s ~= b.s then
        return a.s < b.s
      end
      return a.m < b.m
    end)
  end
  local take = math.min(need, #cands)

  -- Read every chosen job before this round writes anything.
  local chosen = {}
  for i = 1, take do
    local c = cands[i]
    local id = id_of(c.m)
    local job = { c = c, id = id, kind = ARGV[c.k + 4] }
    if id then
      job.key = job_key(tag, id)
      job.f = read_hash(job.key, names)
    end
    chosen[i] = job
  end

  -- Take the chosen members out of their sets, one call per kind. The Go
  -- side lists each kind once, so no member is taken twice.
  local by_set = {}
  for i = 1, take do
    local c = cands[i]
    by_set[c.k] = by_set[c.k] or {}
    table.insert(by_set[c.k], c.m)
  end
  for k, members in pairs(by_set) do
    zrem_many(KEYS[k], members)
  end

  for _, job in ipairs(chosen) do
    local c, id, kind, key, f = job.c, job.id, job.kind, job.key, job.f
    if not id then
      drop_member(tag, KEYS[c.k], c.m, now)
    elseif not f then
      bury(tag, queue, id, kind, now, at, nil)
    else
      local token, attempt = intfield(f[6]), intfield(f[4])
      -- The common case, every field sound, is checked without building
      -- the list of what is wrong.
      local sound = f[1] == kind and f[3] and token and attempt and intfield(f[2]) and intfield(f[5])
        and intfield(f[7]) and intfield(f[8])
      if not sound then
        local reason
        if redis.call('EXISTS', key) == 1 then
          local bad = missing_fields(f, required, numeric)
          if #bad == 0 then
            bad[1] = 'kind field ' .. cjson.encode(f[1]) .. ' does not match its available set (' .. cjson.encode(kind) .. ')'
          end
          reason = 'the stored job is corrupt: ' .. table.concat(bad, ', ')
        end
        bury(tag, queue, id, kind, now, at, reason)
      else
        -- Computed and written with HSET rather than HINCRBY, which would
        -- fail half-way through the script on a value like "3.0".
        token = int(token + 1)
        attempt = int(attempt + 1)
        redis.call('HSET', key, 'state', 'running', 'token', token, 'attempt', attempt,
          'attempted_at', now_s, 'lease_until', until_s, 'claimed_by', client)
        claimed[#claimed + 1] = until_s
        claimed[#claimed + 1] = c.m
        -- Stored values go back as stored: the Go side parses them, and
        -- dead-letters the job if it cannot.
        out[#out + 1] = { id, kind, f[2], f[3], attempt, f[5], f[9] or '', f[7], f[8], now_s, until_s, token, f[10] or '' }
      end
    end
  end
end
if #claimed > 0 then
  zadd_many(KEYS[1], claimed)
end
if tokens then
  redis.call('HSET', KEYS[2], 'tokens', string.format('%.17g', tokens - #out), 'tokens_at', now_s)
end
return out
