-- dead_letter.lua moves a running job held under the given token to the
-- queue's dead-letter sets, appending the error to its history. The job
-- keeps its hash (and so its ID, history and token) until it is purged;
-- its unique key, if any, is freed.
--
-- KEYS[1] the queue's running set, KEYS[2] its dead-letter set.
-- ARGV[1] queue tag, ARGV[2] id, ARGV[3] token, ARGV[4] the error as JSON,
--         ARGV[5] '1' to start a new history because the stored one does
--         not decode (it is kept aside in errors_unreadable), ARGV[6] the
--         output the run recorded, as JSON ('' or absent for none).
-- Returns 1 when the job was held and moved, 0 when the lease was lost.

local tag, id, token, err, reset, output = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5] == '1', ARGV[6] or ''
local bad = check_zsets({ KEYS[1], KEYS[2] })
if bad then
  return bad
end
local key = job_key(tag, id)
-- A job whose key holds another type is reported lost; rescue
-- dead-letters it when its lease ends.
local f = read_hash(key, { 'state', 'token', 'kind', 'errors', 'unique_key' })
if not f or f[1] ~= 'running' or f[2] ~= token then
  return 0
end
release_unique(tag, id, f[5])
local now = int(now_us())
local m = member(id)
local hist = f[4]
if reset and hist and hist ~= '' then
  redis.call('HSET', key, 'errors_unreadable', hist)
  hist = ''
end
redis.call('ZREM', KEYS[1], m)
redis.call('HDEL', key, 'lease_until', 'claimed_by')
redis.call('HSET', key, 'state', 'dead', 'died_at', now, 'errors', append_error(hist, err))
if output ~= '' then
  redis.call('HSET', key, 'output', output)
end
redis.call('ZADD', KEYS[2], now, m)
if is_zset(dead_kind_key(tag, f[3] or '')) then
  redis.call('ZADD', dead_kind_key(tag, f[3] or ''), now, m)
end
return 1
