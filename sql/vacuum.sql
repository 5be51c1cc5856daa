-- Reclaim the dead rows every finished job leaves behind. Autovacuum wakes
-- at most once a minute (autovacuum_naptime), and at 20,000 jobs/s a minute
-- of dead rows bloats the claim index until claims slow down by half.
-- TRUNCATE false: cutting off empty tail pages needs the table's ACCESS
-- EXCLUSIVE lock, which a vacuum waits up to 5 s for while claims hold
-- their locks, and a busy queue refills those pages at once (migration
-- 00014 sets the same for autovacuum).
VACUUM (SKIP_LOCKED, TRUNCATE false) {{jobs}}
