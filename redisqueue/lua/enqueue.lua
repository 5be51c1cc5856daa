-- enqueue.lua stores a batch of new jobs, of any queues, in one atomic step
-- and one round trip: it allocates their IDs and queue indexes and writes
-- every queue's jobs (see alloc_ids and insert_jobs in lib.lua). It touches
-- keys of several hash tags, so it is only for a single Redis server
-- (plain or failover client); clusters use alloc.lua then insert.lua.
--
-- A client library may send a script again when the reply was lost; a
-- retry guard, written with the batch, makes the retry return the first
-- run's IDs instead of storing the batch twice. A job key that exists
-- already fails the call with nothing stored (see check_insert).
--
-- KEYS[1] ID counter, KEYS[2] hash queue name -> index, KEYS[3] hash
--         index -> queue name, KEYS[4] the batch's retry guard, KEYS[5..]
--         the scheduled set of each queue, in the order of ARGV.
-- ARGV[1] wake channel, ARGV[2] how many jobs, ARGV[3] the guard's expiry
--         in ms, then for each queue: its tag, its name, how many of its
--         jobs follow, and eight values per job as insert_jobs reads them.
-- Returns { the batch's first ID, the number of queue indexes that follow,
-- the index of each queue, then an offset in the batch and a holder ID for
-- each job skipped as a duplicate } (no indexes when the call is a retry
-- answered by the guard, which keeps the first ID and the duplicates).

local done = redis.call('GET', KEYS[4])
if done then
  local out = {}
  for v in string.gmatch(done, '%d+') do
    out[#out + 1] = tonumber(v)
  end
  return out
end
local channel, n = ARGV[1], tonumber(ARGV[2])
local queues, names = {}, {}
local pos = 4
for q = 1, #KEYS - 4 do
  local count = tonumber(ARGV[pos + 2])
  queues[q] = { tag = ARGV[pos], name = ARGV[pos + 1], count = count, from = pos + 3 }
  names[q] = ARGV[pos + 1]
  pos = pos + 3 + 8 * count
end
local first, indexes = alloc_ids(KEYS[1], KEYS[2], KEYS[3], n, names)
-- Every queue's jobs are checked before any is written, so the batch is
-- still all or none (the IDs just taken are left unused on a failure).
for q, spec in ipairs(queues) do
  local bad = check_insert(spec.tag, KEYS[4 + q], first, ARGV, spec.from, spec.count)
  if bad then
    return bad
  end
end
local dups = {}
for q, spec in ipairs(queues) do
  local _, d = insert_jobs(spec.tag, channel, spec.name, indexes[q], KEYS[4 + q], first, ARGV, spec.from, spec.count)
  for _, v in ipairs(d) do
    dups[#dups + 1] = v
  end
end
local guard = { int(first), '0' }
local out = { first, #indexes }
for _, index in ipairs(indexes) do
  out[#out + 1] = index
end
for _, v in ipairs(dups) do
  out[#out + 1] = tonumber(v)
  guard[#guard + 1] = v
end
redis.call('SET', KEYS[4], table.concat(guard, ','), 'PX', ARGV[3])
return out
