-- A workflow task's state (included by the workflow_task_state marker,
-- with the task aliased t, its job j and its dead letter d, both LEFT
-- JOINed): its recorded outcome once applied; else its job's state while
-- it is in the queue or the dead letters; else completed (a completed job
-- leaves the queue with its outcome recorded in the same statement, so
-- this is only reached for a task whose job was deleted by hand).
CASE WHEN t.finished IS NOT NULL THEN t.finished
     WHEN j.state IS NOT NULL THEN j.state
     WHEN d.id IS NOT NULL THEN
         CASE WHEN d.errors -> -1 ->> 'kind' = 'cancelled' THEN 'cancelled' ELSE 'dead' END
     ELSE 'completed' END
