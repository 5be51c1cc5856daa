-- insert.lua stores new jobs of one queue whose IDs and queue index
-- alloc.lua gave (the cluster path; see insert_jobs in lib.lua).
--
-- go-redis resends a script whose reply was lost. The resend finds the
-- jobs it wrote, which would fail check_insert, so the first run leaves a
-- guard key, in the queue's slot, holding its reply; a resend finds it and
-- answers the same. Any other job key that exists fails the call with
-- nothing stored.
--
-- KEYS[1] the queue's scheduled set, KEYS[2] this call's retry guard.
-- ARGV[1] queue tag, ARGV[2] wake channel, ARGV[3] queue name, ARGV[4] the
--         queue's index, ARGV[5] the batch's first ID, ARGV[6] the guard's
--         expiry in ms, then eight values per job as insert_jobs reads them.
-- Returns an offset in the batch and a holder ID for each job skipped as
-- a duplicate (a flat list, empty when none was).

local done = redis.call('GET', KEYS[2])
if done then
  local out = {}
  for v in string.gmatch(done, '%d+') do
    out[#out + 1] = tonumber(v)
  end
  return out
end
local first, count = tonumber(ARGV[5]), (#ARGV - 6) / 8
local bad = check_insert(ARGV[1], KEYS[1], first, ARGV, 7, count)
if bad then
  return bad
end
local _, dups = insert_jobs(ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), KEYS[1], first, ARGV, 7, count)
local out = {}
for i, v in ipairs(dups) do
  out[i] = tonumber(v)
end
redis.call('SET', KEYS[2], table.concat(dups, ','), 'PX', ARGV[6])
return out
