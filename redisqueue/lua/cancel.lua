-- cancel.lua moves a waiting (available or scheduled) or running job of
-- one queue to its dead-letter sets, appending a "cancelled" error stamped
-- with the job's attempt, and frees its unique key. A running job's lease
-- is thereby lost (its holder's calls find it dead), and its holder is told
-- through the wake channel.
--
-- KEYS[1] the queue's running set, KEYS[2] its scheduled set, KEYS[3] its
--         dead-letter set.
-- ARGV[1] queue tag, ARGV[2] wake channel, ARGV[3] id, ARGV[4] the error's
--         JSON after its attempt number (from the first ','), ARGV[5] the
--         message telling a running job's holder (pgqueue.CancelMessage).
-- Returns 1 when the job was cancelled, 0 when it is not waiting or
-- running in this queue.

local tag, channel, id, tail, msg = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local bad = check_zsets({ KEYS[1], KEYS[2], KEYS[3] })
if bad then
  return bad
end
local key = job_key(tag, id)
-- A job whose key holds another type is not cancelled (reported not
-- found); the step that meets it next dead-letters it.
local f = read_hash(key, { 'state', 'kind', 'attempt', 'errors', 'unique_key' })
if not f then
  return 0
end
local state, kind = f[1], f[2] or ''
local m = member(id)
if (state == 'available' and not is_zset(avail_key(tag, kind))) or not is_zset(dead_kind_key(tag, kind)) then
  return redis.error_reply('redisqueue: a set of kind ' .. kind .. ' in ' .. tag .. ' is not a sorted set; nothing was changed')
end
if state == 'available' then
  redis.call('ZREM', avail_key(tag, kind), m)
elseif state == 'scheduled' then
  redis.call('ZREM', KEYS[2], m)
elseif state == 'running' then
  redis.call('ZREM', KEYS[1], m)
else
  return 0
end
local now = int(now_us())
local hist = f[4]
if hist and hist ~= '' and not is_array(hist) then
  redis.call('HSET', key, 'errors_unreadable', hist)
  hist = ''
end
release_unique(tag, id, f[5])
redis.call('HDEL', key, 'lease_until', 'claimed_by')
redis.call('HSET', key, 'state', 'dead', 'died_at', now,
  'errors', append_error(hist, '{"attempt":' .. int(intfield(f[3]) or 0) .. tail))
redis.call('ZADD', KEYS[3], now, m)
redis.call('ZADD', dead_kind_key(tag, kind), now, m)
if state == 'running' then
  redis.call('PUBLISH', channel, msg)
end
return 1
