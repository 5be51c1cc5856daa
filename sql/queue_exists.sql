-- Whether queue $1 is known: it holds jobs in any state or dead letters,
-- or has a row in the queues table (paused, or limits set). Each probe is
-- one index lookup.
SELECT EXISTS (SELECT 1 FROM {{jobs}} WHERE state = 'available' AND queue = $1)
    OR EXISTS (SELECT 1 FROM {{jobs}} WHERE state = 'scheduled' AND queue = $1)
    OR EXISTS (SELECT 1 FROM {{jobs}} WHERE state = 'running' AND queue = $1)
    OR EXISTS (SELECT 1 FROM {{dead}} WHERE queue = $1)
    OR EXISTS (SELECT 1 FROM {{queues}} WHERE name = $1)
