-- clients_seen.lua sets a registered client's last seen time to the
-- server's clock.
--
-- KEYS[1] {P}:clients, KEYS[2] {P}:clients-seen (see clients_register.lua).
-- ARGV[1] the client's ID.
-- Returns 1, or 0 when the client is not registered.

if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('ZADD', KEYS[2], int(now_us()), ARGV[1])
return 1
