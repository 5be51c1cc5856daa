-- Bound the rest of an operator read's transaction: a server-side
-- statement timeout, and plans made for the actual parameters (a generic
-- plan cannot drop the "parameter is null" branches of jobs_filter, and
-- would scan a whole table for an ID lookup). $1 statement_timeout.
SELECT set_config('statement_timeout', $1, true),
       set_config('plan_cache_mode', 'force_custom_plan', true)
