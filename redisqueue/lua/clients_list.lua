-- clients_list.lua reads the registry entries seen within the stale
-- period of the server's clock. It writes nothing.
--
-- KEYS[1] {P}:clients, KEYS[2] {P}:clients-seen (see clients_register.lua).
-- ARGV[1] the stale period in µs.
-- Returns { id, last seen µs, "<started µs> <JSON>", ... }.

local now = now_us()
local seen = redis.call('ZRANGEBYSCORE', KEYS[2], int(now - tonumber(ARGV[1])), '+inf', 'WITHSCORES')
local out = {}
for i = 1, #seen, 2 do
  local v = redis.call('HGET', KEYS[1], seen[i])
  if v then
    out[#out + 1] = seen[i]
    out[#out + 1] = seen[i + 1]
    out[#out + 1] = v
  end
end
return out
