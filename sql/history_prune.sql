-- Drop the history partitions past their keep time (see
-- pgqueue_history_prune in migration 10). Returns how many it dropped.
SELECT {{history_prune_fn}}()
