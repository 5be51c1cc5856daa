-- Run inside the claim's transaction, before claim.sql; every setting lasts
-- until that transaction ends.
--
-- plan_cache_mode: the claim is a prepared statement. Left to itself, the
-- plan cache moves it to a generic plan after five executions only when
-- that plan's estimate is no worse than the custom plans': on a large
-- table it is not (with LIMIT $3 unknown, the generic plan hashes the whole
-- table), so every claim was planned afresh, 0.1-0.2 ms per claim at
-- 100,000 jobs; on a small one it switched to whichever plan the
-- statistics of that moment gave. Forcing the generic plan plans the claim
-- once per connection, and the settings below make that plan the right one.
--
-- enable_sort, enable_bitmapscan, enable_seqscan: the claim must walk
-- pgqueue_jobs_claim_idx in order and stop after LIMIT rows. On a table
-- that has never been analyzed (a fresh install, or right after a burst of
-- inserts) the planner guesses a couple of matching rows and picks a
-- bitmap scan plus a sort of the whole queue instead (0.1 ms becomes 60 ms
-- per claim at 100,000 jobs), and a generic plan, which cannot see the
-- LIMIT, would scan the whole table. Ruling them out leaves only the
-- ordered index scan, whatever the statistics say.
--
-- enable_hashjoin, enable_mergejoin: the UPDATE finds each picked row by
-- its primary key (a nested loop); a generic plan would otherwise hash the
-- whole table against the few picked IDs.
--
-- synchronous_commit: a claim need not wait for its WAL flush. If Postgres
-- crashes before the flush, the claim is forgotten and the job is simply
-- available again (it runs again: at-least-once holds), and the worker
-- that held it learns at its next heartbeat that its lease is gone.
SELECT set_config('plan_cache_mode', 'force_generic_plan', true),
       set_config('enable_sort', 'off', true),
       set_config('enable_bitmapscan', 'off', true),
       set_config('enable_seqscan', 'off', true),
       set_config('enable_hashjoin', 'off', true),
       set_config('enable_mergejoin', 'off', true),
       set_config('synchronous_commit', 'off', true)
