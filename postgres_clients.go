package pgqueue

// The Postgres backend's client registry (pgqueue_clients, migration 8)
// and its list of periodic jobs (pgqueue_periodic).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

var (
	_ ClientRegistry = (*PostgresBackend)(nil)
	_ PeriodicLister = (*PostgresBackend)(nil)
)

// RegisterClient implements ClientRegistry: it upserts c's row of
// pgqueue_clients with started_at and last_seen set to the database's
// now(), and deletes the rows of other clients not seen for
// ClientStaleAfter. It returns an error wrapping ErrInvalidArgs for an
// empty c.ID, and ErrDatabase on failure (among others when the schema
// predates migration 8).
func (b *PostgresBackend) RegisterClient(ctx context.Context, c ClientInfo) error {
	if c.ID == "" {
		return fmt.Errorf("%w: RegisterClient needs a client ID", ErrInvalidArgs)
	}
	queues := c.Queues
	if queues == nil {
		queues = map[string]int{}
	}
	raw, err := json.Marshal(queues)
	if err != nil {
		return fmt.Errorf("%w: client queues: %v", ErrInvalidArgs, err)
	}
	periodic := c.Periodic
	if periodic == nil {
		periodic = []string{}
	}
	_, err = b.pool.Exec(ctx, b.q.ClientsRegister, c.ID, c.Host, c.PID, c.Version, raw, periodic, ClientStaleAfter.Seconds(), c.Liveness)
	return dbErr("register client", err)
}

// ClientSeen implements ClientRegistry: it sets the row's last_seen to
// now(). It returns an error wrapping ErrClientNotFound when there is no
// row for id, and ErrDatabase on failure.
func (b *PostgresBackend) ClientSeen(ctx context.Context, id string) error {
	var got string
	err := b.pool.QueryRow(ctx, b.q.ClientsSeen, id).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: %q", ErrClientNotFound, id)
	}
	return dbErr("mark client seen", err)
}

// UnregisterClient implements ClientRegistry: it deletes id's row, if
// any. ErrDatabase on failure.
func (b *PostgresBackend) UnregisterClient(ctx context.Context, id string) error {
	_, err := b.pool.Exec(ctx, b.q.ClientsUnregister, id)
	return dbErr("unregister client", err)
}

// Clients implements ClientRegistry: the rows seen within staleAfter of
// the database's now(), by ID. ErrDatabase on failure.
func (b *PostgresBackend) Clients(ctx context.Context, staleAfter time.Duration) ([]ClientInfo, error) {
	rows, _ := b.pool.Query(ctx, b.q.ClientsList, staleAfter.Seconds())
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ClientInfo, error) {
		var (
			c   ClientInfo
			raw []byte
		)
		if err := row.Scan(&c.ID, &c.Host, &c.PID, &c.Version, &raw, &c.Periodic, &c.Liveness, &c.StartedAt, &c.LastSeen); err != nil {
			return c, err
		}
		if len(c.Periodic) == 0 {
			c.Periodic = nil
		}
		c.Queues = map[string]int{}
		return c, json.Unmarshal(raw, &c.Queues)
	})
	if err != nil {
		return nil, dbErr("list clients", err)
	}
	if out == nil {
		out = []ClientInfo{}
	}
	return out, nil
}

// PeriodicJobs implements PeriodicLister: the rows of pgqueue_periodic, by
// name, NextRun zero where next_tick is null or, before migration 9,
// missing. ErrDatabase on failure.
func (b *PostgresBackend) PeriodicJobs(ctx context.Context) ([]PeriodicInfo, error) {
	out, err := b.periodicJobs(ctx, b.q.PeriodicList, true)
	if isUndefinedColumn(err) {
		out, err = b.periodicJobs(ctx, b.q.PeriodicList8, false)
	}
	if err != nil {
		return nil, dbErr("list periodic jobs", err)
	}
	if out == nil {
		out = []PeriodicInfo{}
	}
	return out, nil
}

// periodicJobs reads the rows of stmt, with next_tick when withNext.
func (b *PostgresBackend) periodicJobs(ctx context.Context, stmt string, withNext bool) ([]PeriodicInfo, error) {
	rows, _ := b.pool.Query(ctx, stmt)
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (PeriodicInfo, error) {
		var (
			p    PeriodicInfo
			next pgtype.Timestamptz
			err  error
		)
		if withNext {
			err = row.Scan(&p.Name, &p.LastTick, &next)
		} else {
			err = row.Scan(&p.Name, &p.LastTick)
		}
		p.LastTick = p.LastTick.UTC()
		if next.Valid {
			p.NextRun = next.Time.UTC()
		}
		return p, err
	})
}
