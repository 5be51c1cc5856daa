-- Reclaim the dead rows every finished job leaves behind. Autovacuum wakes
-- at most once a minute (autovacuum_naptime), and at 20,000 jobs/s a minute
-- of dead rows bloats the claim index until claims slow down by half.
VACUUM (SKIP_LOCKED) {{jobs}}
