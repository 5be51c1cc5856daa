-- pgqueue schema, version 13: clients declare that they bind liveness.

-- +goose Up

-- Whether the client binds its liveness (a session-level advisory lock,
-- see sql/liveness_lock.sql) and bound it before its first claim. The
-- rescuers of other clients then take the absence of its lock as its
-- death even when none of them saw it held: a worker killed a moment
-- after its start has its jobs run again within seconds, not after its
-- leases. False for clients of older versions and for those that bind no
-- liveness, whose absence proves nothing.
ALTER TABLE pgqueue_clients ADD COLUMN liveness boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE pgqueue_clients DROP COLUMN liveness;
