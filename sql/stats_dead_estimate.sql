-- The planner's estimate of the dead letters of kind $1.
EXPLAIN (FORMAT JSON) SELECT 1 FROM {{dead}} WHERE kind = $1
