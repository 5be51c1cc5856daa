-- Included by the on_conflict marker of insert.sql and insert_one.sql for jobs
-- with a unique key: a job whose key is held by a waiting or running job
-- is skipped. Jobs without keys run the statements without it, since a
-- speculative insertion costs a one-job transaction measurably.
    ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING
