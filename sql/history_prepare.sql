-- Make the history's hourly partitions up to $1 (see
-- pgqueue_history_prepare in migration 10). Returns how many it made.
SELECT {{history_prepare_fn}}($1)
