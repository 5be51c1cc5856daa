-- pgqueue schema, version 8: the client registry.

-- +goose Up

-- The clients running against this schema (Admin.Clients): each writes its
-- row at Start, sets last_seen about every 15s, and deletes it at Stop. A
-- row not seen for a minute belongs to a client that died: it is hidden,
-- and deleted when a client next registers. No job's life cycle writes
-- here.
CREATE TABLE pgqueue_clients (
    id         text        PRIMARY KEY,
    host       text        NOT NULL,
    pid        integer     NOT NULL,
    version    text        NOT NULL,
    queues     jsonb       NOT NULL DEFAULT '{}',
    periodic   text[]      NOT NULL DEFAULT '{}',
    started_at timestamptz NOT NULL DEFAULT now(),
    last_seen  timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE pgqueue_clients;
