-- periodic_list for a schema before version 9, which has no next_tick.
-- Every periodic job's record: its name and last enqueued tick, by name.
SELECT name, last_tick FROM {{periodic}} ORDER BY name
