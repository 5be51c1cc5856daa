package pgqueue_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgbouncer"
	"github.com/pgqueue/pgqueue/internal/pgtest"
)

// bouncedBackend starts a PgBouncer in transaction pooling mode in front
// of the test Postgres and returns a backend whose pool goes through it,
// on a fresh migrated schema (migrated directly: goose's session lock
// needs a session).
func bouncedBackend(t *testing.T, opts pgqueue.PostgresOptions) (*pgqueue.PostgresBackend, *pgqueue.PostgresBackend) {
	t.Helper()
	direct := pgtest.Backend(t)
	bouncer := pgbouncer.Start(t, pgtest.URL(t))
	cfg, err := pgxpool.ParseConfig(bouncer.URL())
	require.NoError(t, err)
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	opts.Schema = direct.Schema()
	b, err := pgqueue.NewPostgres(pool, &opts)
	require.NoError(t, err)
	return b, direct
}

// Through PgBouncer in transaction mode, a PollOnly client enqueues (also
// in the caller's transaction), runs, retries, dead-letters and completes
// jobs, and a job whose lease ended is rescued.
func TestPgBouncerTransactionPoolingPollOnly(t *testing.T) {
	t.Parallel()
	b, direct := bouncedBackend(t, pgqueue.PostgresOptions{})
	ctx := context.Background()
	var mu sync.Mutex
	attempts := map[int]int{}
	done := make(chan int, 16)
	c := startClient(t, b, pgqueue.Config{ID: "bounced", PollOnly: true, PollInterval: 50 * time.Millisecond, Logger: testLogger(t),
		Retry: pgqueue.RetryPolicy{Base: 10 * time.Millisecond, Max: 20 * time.Millisecond}},
		func(ctx context.Context, j *pgqueue.Job[pingArgs]) error {
			mu.Lock()
			attempts[j.Args.Seq]++
			n := attempts[j.Args.Seq]
			mu.Unlock()
			switch {
			case j.Args.Seq == 1 && n == 1:
				return errors.New("fails once, then succeeds")
			case j.Args.Seq == 2:
				return pgqueue.Permanent(errors.New("dead at once"))
			}
			done <- j.Args.Seq
			return nil
		})
	_, err := c.Enqueue(ctx, pingArgs{Seq: 0}, nil)
	require.NoError(t, err, "enqueue through PgBouncer")
	_, err = c.Enqueue(ctx, pingArgs{Seq: 1}, nil)
	require.NoError(t, err)
	_, err = c.Enqueue(ctx, pingArgs{Seq: 2}, nil)
	require.NoError(t, err)
	tx, err := b.Pool().Begin(ctx)
	require.NoError(t, err)
	_, err = c.EnqueueTx(ctx, tx, pingArgs{Seq: 3}, nil)
	require.NoError(t, err, "EnqueueTx through PgBouncer")
	require.NoError(t, tx.Commit(ctx))

	got := map[int]bool{}
	for len(got) < 3 {
		select {
		case s := <-done:
			got[s] = true
		case <-time.After(15 * time.Second):
			t.Fatalf("through PgBouncer, only jobs %v completed of 0, 1 and 3", got)
		}
	}
	// The failing job is dead-lettered by its own write, which may land
	// after the other three completed: wait for it.
	var dead []*pgqueue.DeadJob
	require.Eventually(t, func() bool {
		var err error
		dead, err = b.ListDead(ctx, pgqueue.DeadFilter{})
		require.NoError(t, err)
		return len(dead) == 1
	}, 15*time.Second, 20*time.Millisecond, "the permanent failure is dead-lettered")

	// An expired lease is rescued through the pooler.
	_, err = direct.Insert(ctx, []pgqueue.InsertParams{{Kind: "other", Queue: pgqueue.DefaultQueue, Priority: 5, Args: []byte(`{}`), MaxAttempts: 3}})
	require.NoError(t, err)
	rows, err := b.Claim(ctx, pgqueue.ClaimParams{Queue: pgqueue.DefaultQueue, Kinds: []string{"other"}, Limit: 1, Lease: time.Millisecond, ClientID: "gone"})
	require.NoError(t, err)
	require.Len(t, rows, 1)
	time.Sleep(10 * time.Millisecond)
	require.Eventually(t, func() bool {
		res, err := b.Rescue(ctx, pgqueue.AttemptError{At: time.Now().UTC(), Kind: "lease_expired", Error: "test"})
		return err == nil && res.Requeued == 1
	}, 5*time.Second, 50*time.Millisecond, "rescue through PgBouncer")
	var locks int
	require.NoError(t, direct.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND objid = hashtext('bounced')::oid`).Scan(&locks))
	require.Zero(t, locks, "a PollOnly client without a direct connection must not take a session lock through the pooler")
}

// LISTEN through a transaction pooler is found out and refused with a
// clear error, not left to never wake anyone.
func TestListenThroughTransactionPoolerIsRefused(t *testing.T) {
	t.Parallel()
	b, _ := bouncedBackend(t, pgqueue.PostgresOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := b.ListenReporting(ctx, func(string) {}, nil)
	require.Error(t, err, "LISTEN through PgBouncer in transaction mode must fail")
	require.ErrorIs(t, err, pgqueue.ErrDatabase)
	require.ErrorContains(t, err, "transaction pooler")
	require.ErrorContains(t, err, "PollOnly")
	require.NoError(t, ctx.Err(), "the refusal must come at once, not when the test gives up")
}

// With the pool through PgBouncer and a direct connection for the
// listener and liveness (ListenerConnConfig), a client gets wake-ups and
// binds its liveness on the direct connection.
func TestPgBouncerWithDirectListenerConnection(t *testing.T) {
	t.Parallel()
	directCfg, err := pgx.ParseConfig(pgtest.URL(t))
	require.NoError(t, err)
	b, direct := bouncedBackend(t, pgqueue.PostgresOptions{ListenerConnConfig: directCfg})
	ctx := context.Background()
	ran := make(chan time.Time, 1)
	c := startClient(t, b, pgqueue.Config{ID: "bounced-direct", PollInterval: time.Hour},
		func(ctx context.Context, j *pgqueue.Job[pingArgs]) error { ran <- time.Now(); return nil })
	listenerReady(t, direct)
	livenessBound(t, direct, "bounced-direct")
	start := time.Now()
	_, err = c.Enqueue(ctx, pingArgs{}, nil)
	require.NoError(t, err)
	select {
	case at := <-ran:
		t.Logf("woken through NOTIFY with the pool behind PgBouncer: picked up in %v", at.Sub(start))
	case <-time.After(10 * time.Second):
		t.Fatal("no wake-up within 10s (polling is hourly): LISTEN on the direct connection did not work")
	}
}

// testLogger logs to the test's output.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}
