package pgqueue_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
	"github.com/pgqueue/pgqueue/memqueue"
)

// Admin.Clients and Admin.PeriodicJobs return ErrUnsupported, naming the
// interface, on a backend without it; a Client on such a backend starts
// and stops without a registry.
func TestClientsAndPeriodicJobsUnsupported(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := pgqueue.NewAdmin(bareBackend{memqueue.New()})
	_, err := a.Clients(ctx)
	require.ErrorIs(t, err, pgqueue.ErrUnsupported)
	require.ErrorContains(t, err, "ClientRegistry")
	_, err = a.PeriodicJobs(ctx)
	require.ErrorIs(t, err, pgqueue.ErrUnsupported)
	require.ErrorContains(t, err, "PeriodicLister")

	c, err := pgqueue.New(bareBackend{memqueue.New()}, pgqueue.Config{})
	require.NoError(t, err)
	require.NoError(t, pgqueue.Register(c, pgqueue.WorkFunc[pingArgs](func(context.Context, *pgqueue.Job[pingArgs]) error { return nil })))
	require.NoError(t, c.Start(ctx))
	require.NoError(t, c.Stop(ctx))
}

// memqueue forgets, at the next registration, the clients not seen for
// ClientStaleAfter.
func TestMemqueueRegistryPrunesStaleClients(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var (
		mu  sync.Mutex
		now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	)
	b := memqueue.New(memqueue.WithClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now }))
	require.NoError(t, b.RegisterClient(ctx, pgqueue.ClientInfo{ID: "dead"}))
	mu.Lock()
	now = now.Add(pgqueue.ClientStaleAfter + time.Second)
	mu.Unlock()
	list, err := b.Clients(ctx, time.Hour)
	require.NoError(t, err)
	require.Len(t, list, 1, "hidden only by the stale period asked for, until pruned")
	require.NoError(t, b.RegisterClient(ctx, pgqueue.ClientInfo{ID: "alive"}))
	list, err = b.Clients(ctx, time.Hour)
	require.NoError(t, err)
	require.Len(t, list, 1, "registering pruned the stale entry")
	require.Equal(t, "alive", list[0].ID)
	require.ErrorIs(t, b.ClientSeen(ctx, "dead"), pgqueue.ErrClientNotFound)
}

// On Postgres, registering deletes the rows not seen for
// ClientStaleAfter; a schema migrated to version 8 and back has no
// registry, and Admin.Clients says so with ErrDatabase.
func TestPostgresRegistryPrunesStaleRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, schema := pgtest.Migrated(t)
	b, err := pgqueue.NewPostgres(pool, &pgqueue.PostgresOptions{Schema: schema})
	require.NoError(t, err)
	require.NoError(t, b.RegisterClient(ctx, pgqueue.ClientInfo{ID: "dead", Host: "h", PID: 1, Version: "v"}))
	table := pgx.Identifier{schema, "pgqueue_clients"}.Sanitize()
	_, err = pool.Exec(ctx, "UPDATE "+table+" SET last_seen = now() - interval '2 minutes'")
	require.NoError(t, err)
	list, err := pgqueue.NewAdmin(b).Clients(ctx)
	require.NoError(t, err)
	require.Empty(t, list, "a row not seen for ClientStaleAfter is hidden")
	require.NoError(t, b.RegisterClient(ctx, pgqueue.ClientInfo{ID: "alive", Host: "h", PID: 2, Version: "v"}))
	var n int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n))
	require.Equal(t, 1, n, "registering deleted the stale row")

	_, err = pool.Exec(ctx, "DROP TABLE "+table)
	require.NoError(t, err)
	_, err = pgqueue.NewAdmin(b).Clients(ctx)
	require.ErrorIs(t, err, pgqueue.ErrDatabase)
	_, err = pgqueue.NewAdmin(b).PeriodicJobs(ctx)
	require.NoError(t, err, "periodic jobs need no migration 8")
}

// A started client declares in the registry whether it bound its
// liveness before its first claim: yes by default, no when liveness is
// disabled (its absence then proves nothing to other clients' rescuers).
func TestStartedClientDeclaresItsLiveness(t *testing.T) {
	t.Parallel()
	b := pgtest.Backend(t)
	ctx := context.Background()
	off, err := pgqueue.NewPostgres(b.Pool(), &pgqueue.PostgresOptions{Schema: b.Schema(), DisableSessionLiveness: true})
	require.NoError(t, err)
	noop := func(context.Context, *pgqueue.Job[pingArgs]) error { return nil }
	startClient(t, b, pgqueue.Config{ID: "bound"}, noop)
	startClient(t, off, pgqueue.Config{ID: "unbound"}, noop)
	list, err := pgqueue.NewAdmin(b).Clients(ctx)
	require.NoError(t, err)
	declared := map[string]bool{}
	for _, c := range list {
		declared[c.ID] = c.Liveness
	}
	require.Equal(t, map[string]bool{"bound": true, "unbound": false}, declared,
		"a client with session liveness declares it at Start; one with DisableSessionLiveness does not")
}
