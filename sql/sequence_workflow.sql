-- Make or grow a sequence's workflow by one task: $1 the workflow (null:
-- make one named $2). Returns the workflow's ID and its task count, which
-- names the new task.
WITH made AS (
    INSERT INTO {{workflows}} (name, tasks)
    SELECT $2, 1 WHERE $1::bigint IS NULL
    RETURNING id, tasks
), grown AS (
    UPDATE {{workflows}} SET tasks = tasks + 1
    WHERE id = $1::bigint
    RETURNING id, tasks
)
SELECT id, tasks FROM made UNION ALL SELECT id, tasks FROM grown
