-- The planner's estimate of how many available jobs queue $1 holds, used by
-- stats once the exact count passes its cap.
EXPLAIN (FORMAT JSON) SELECT 1 FROM {{jobs}} WHERE state = 'available' AND queue = $1
