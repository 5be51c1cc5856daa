-- periodic.lua records a tick of a periodic job and inserts the tick's job,
-- in one atomic step on the job's queue's slot, unless that tick or a later
-- one was recorded already. The queue's periodic hash maps each periodic
-- job's name to "<last tick in µs>:<ID of its job, 0 if none was stored>",
-- and its periodic-next hash maps the name to the next tick in µs that the
-- client recording the last tick expected (kept apart so that clients of
-- an older version, which read the first hash's format, keep working).
--
-- KEYS[1] the queue's scheduled set.
-- ARGV[1] queue tag, ARGV[2] wake channel, ARGV[3] queue name, ARGV[4] the
--         queue's index, ARGV[5] the job's ID (from alloc.lua), ARGV[6] the
--         periodic job's name, ARGV[7] the tick in µs, then the eight values
--         of the job as insert_jobs reads them (offset 0), then ARGV[16]
--         the next tick in µs ('' when unknown).
-- Returns { 1, id } when the job was stored, { 0, 0 } when the tick was
-- not new or the job's unique key was held. A call resent after a lost
-- reply finds its own record and answers as the first run did.

local tag, channel, queue, index, id = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local name, tick = ARGV[6], ARGV[7]
local h = tag .. ':periodic'
local next_tick = ARGV[16]
-- record_next stores the next tick beside a newly recorded tick.
local function record_next()
  if next_tick and next_tick ~= '' then
    redis.call('HSET', tag .. ':periodic-next', name, next_tick)
  else
    redis.call('HDEL', tag .. ':periodic-next', name)
  end
end
local last = redis.call('HGET', h, name)
if last then
  local lt, lid = string.match(last, '^(%d+):(%d+)$')
  if lt and tonumber(lt) >= tonumber(tick) then
    if lt == tick and lid == id then
      return { 1, tonumber(id) }
    end
    return { 0, 0 }
  end
end
local bad = check_insert(tag, KEYS[1], tonumber(id), ARGV, 8, 1)
if bad then
  return bad
end
local _, dups = insert_jobs(tag, channel, queue, index, KEYS[1], tonumber(id), ARGV, 8, 1)
if #dups > 0 then
  redis.call('HSET', h, name, tick .. ':0')
  record_next()
  return { 0, 0 }
end
redis.call('HSET', h, name, tick .. ':' .. id)
record_next()
return { 1, tonumber(id) }
