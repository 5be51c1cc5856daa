-- Store a workflow's row (WorkflowStore.InsertWorkflow); its tasks follow
-- in the same transaction. $1 name, $2 number of tasks.
INSERT INTO {{workflows}} (name, tasks) VALUES ($1, $2) RETURNING id
