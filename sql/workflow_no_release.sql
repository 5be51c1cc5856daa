-- The release marker of complete_recorded.sql for a batch without
-- workflow tasks: nothing to release, nobody to wake.
woke AS (SELECT 0 AS n)
