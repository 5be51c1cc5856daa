-- Delete up to $2 rows of per-minute stats of minutes before $1: in
-- bounded batches, so that pruning a long backlog never holds many row
-- locks or one long transaction. The primary key leads with minute, so
-- the oldest rows are found by index.
DELETE FROM {{stats}}
WHERE ctid IN (SELECT ctid FROM {{stats}} WHERE minute < $1 ORDER BY minute LIMIT $2)
