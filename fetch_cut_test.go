package pgqueue_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
)

// A claim that fails because every connection the pool kept was
// terminated is asked again at once, on fresh connections: the job that
// woke the fetcher runs within moments, not at the next poll (a minute
// here).
func TestClaimFailingOnTerminatedPoolConnectionsIsAskedAgain(t *testing.T) {
	t.Parallel()
	b := pgtest.Backend(t)
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(pgtest.URL(t))
	require.NoError(t, err)
	app := fmt.Sprintf("cut-pool-%08x", rand.Uint32()) // unique per run
	cfg.ConnConfig.RuntimeParams["application_name"] = app
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	wb, err := pgqueue.NewPostgres(pool, &pgqueue.PostgresOptions{Schema: b.Schema()})
	require.NoError(t, err)
	runs := make(chan int, 4)
	startClient(t, wb, pgqueue.Config{ID: "cut-pool", PollInterval: time.Minute}, func(_ context.Context, j *pgqueue.Job[pingArgs]) error {
		runs <- j.Args.Seq
		return nil
	})
	listenerReady(t, wb)
	enq, err := pgqueue.New(b, pgqueue.Config{})
	require.NoError(t, err)

	// Fill the pool: every connection it holds is then one to cut.
	conns := make([]*pgxpool.Conn, 0, cfg.MaxConns)
	for range cfg.MaxConns {
		c, err := pool.Acquire(ctx)
		require.NoError(t, err)
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Release()
	}
	var cut int
	require.NoError(t, b.Pool().QueryRow(ctx, `SELECT count(*) FILTER (WHERE ok) FROM (
		SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1) t`, app).Scan(&cut))
	require.Equal(t, int(cfg.MaxConns), cut, "terminate every connection of the worker's pool")

	enqueued := time.Now()
	_, err = enq.Enqueue(ctx, pingArgs{Seq: 1}, nil)
	require.NoError(t, err)
	select {
	case <-runs:
		t.Logf("the job ran %v after its enqueue, its claim asked again past %d terminated connections", time.Since(enqueued).Round(time.Millisecond), cut)
	case <-time.After(10 * time.Second):
		t.Fatal("the job did not run within 10s of its enqueue: the claim its NOTIFY woke failed on a terminated pooled connection and waited for the next poll (1 minute) instead of being asked again")
	}
}
