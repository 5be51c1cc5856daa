-- stats_record.lua adds one client's per-minute stats rows of one queue,
-- in one atomic step on the queue's slot: HINCRBY of each count into the
-- minute's hash, the minute in the queue's minute index, and the expiry
-- of both after the retention.
--
-- KEYS[1] the queue's minute index ({P:Q}:stats-minutes).
-- ARGV[1] queue tag, ARGV[2] retention in seconds (0: keep), ARGV[3] now
--         in Unix seconds, then per minute: the minute in Unix seconds,
--         its number of fields n, and n pairs of field and count.
-- Returns the number of minutes written.

local tag, retention, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local i, minutes = 4, 0
while i <= #ARGV do
  local minute, n = ARGV[i], tonumber(ARGV[i + 1])
  local key = tag .. ':stats:' .. minute
  for j = i + 2, i + 2 * n, 2 do
    redis.call('HINCRBY', key, ARGV[j], ARGV[j + 1])
  end
  redis.call('ZADD', KEYS[1], minute, minute)
  if retention > 0 then
    -- A minute already past its retention is deleted at once.
    redis.call('EXPIREAT', key, tonumber(minute) + retention)
  end
  minutes = minutes + 1
  i = i + 2 + 2 * n
end
if retention > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - retention))
  -- The index outlives the newest minute it can hold by the retention.
  redis.call('EXPIREAT', KEYS[1], now + retention + 60)
end
return minutes
