-- insert.lua stores new jobs of one queue whose IDs and queue index
-- alloc.lua gave (the cluster path; see insert_jobs in lib.lua).
--
-- KEYS[1] the queue's scheduled set.
-- ARGV[1] queue tag, ARGV[2] wake channel, ARGV[3] queue name, ARGV[4] the
--         queue's index, ARGV[5] the batch's first ID, then eight values
--         per job as insert_jobs reads them.
-- Returns an offset in the batch and a holder ID for each job skipped as
-- a duplicate (a flat list, empty when none was).

local _, dups = insert_jobs(ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), KEYS[1], tonumber(ARGV[5]),
  ARGV, 6, (#ARGV - 5) / 8)
local out = {}
for i, v in ipairs(dups) do
  out[i] = tonumber(v)
end
return out
