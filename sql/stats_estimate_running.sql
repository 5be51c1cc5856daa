-- The planner's estimate of how many running jobs queue $1 holds, used by
-- stats once the exact count passes its cap.
EXPLAIN (FORMAT JSON) SELECT 1 FROM {{jobs}} WHERE state = 'running' AND queue = $1
