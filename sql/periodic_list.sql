-- Every periodic job's record: its name and last enqueued tick, by name.
SELECT name, last_tick FROM {{periodic}} ORDER BY name
