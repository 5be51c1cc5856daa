-- clients_register.lua stores a client's registry entry, stamped with the
-- server's clock, and forgets up to 100 other entries not seen for the
-- stale period.
--
-- KEYS[1] {P}:clients (hash: ID -> "<started µs> <JSON>"), KEYS[2]
-- {P}:clients-seen (zset: ID by last seen µs).
-- ARGV[1] the client's ID, ARGV[2] its JSON, ARGV[3] the stale period in µs.
-- Returns the server's now in µs.

local now = now_us()
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. int(now - tonumber(ARGV[3])), 'LIMIT', 0, 100)
for _, id in ipairs(stale) do
  if id ~= ARGV[1] then
    redis.call('HDEL', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
  end
end
redis.call('HSET', KEYS[1], ARGV[1], int(now) .. ' ' .. ARGV[2])
redis.call('ZADD', KEYS[2], int(now), ARGV[1])
return int(now)
