-- Every periodic job's record: its name, last enqueued tick and the next
-- tick the recording client expected, by name. A schema before version 9
-- has no next_tick: periodic_list_before_9 is used there.
SELECT name, last_tick, next_tick FROM {{periodic}} ORDER BY name
