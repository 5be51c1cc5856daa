-- alloc.lua hands out IDs for a batch of new jobs and the index of each of
-- their queues, registering queues not seen before; insert.lua then writes
-- each queue's jobs in the queue's own slot. This two-step path is for
-- clusters, where {P} and each {P:Q} may live on different nodes.
--
-- KEYS[1] ID counter, KEYS[2] hash queue name -> index, KEYS[3] hash
--         index -> queue name (all under the prefix's own tag).
-- ARGV[1] how many IDs, ARGV[2..] the distinct queues of the batch.
-- Returns { first ID, index of each queue in ARGV[2..] order }; the batch's
-- IDs are first .. first + ARGV[1] - 1.

local names = {}
for i = 2, #ARGV do
  names[#names + 1] = ARGV[i]
end
local first, indexes = alloc_ids(KEYS[1], KEYS[2], KEYS[3], tonumber(ARGV[1]), names)
local out = { first }
for _, index in ipairs(indexes) do
  out[#out + 1] = index
end
return out
