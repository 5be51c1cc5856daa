-- Run inside the claim's transaction, before claim.sql; both settings last
-- until that transaction ends.
--
-- enable_sort: the claim must walk pgqueue_jobs_claim_idx in order and
-- stop after LIMIT rows. On a table that has never been analyzed (a fresh
-- install, or right after a burst of inserts) the planner guesses a couple
-- of matching rows and picks a bitmap scan plus a sort of the whole queue
-- instead: 0.1 ms becomes 60 ms per claim at 100,000 jobs. Ruling out the
-- sort leaves only the ordered index scan, whatever the statistics say.
--
-- synchronous_commit: a claim need not wait for its WAL flush. If Postgres
-- crashes before the flush, the claim is forgotten and the job is simply
-- available again (it runs again: at-least-once holds), and the worker
-- that held it learns at its next heartbeat that its lease is gone.
SELECT set_config('enable_sort', 'off', true),
       set_config('synchronous_commit', 'off', true)
