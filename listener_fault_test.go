package pgqueue_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
	"github.com/pgqueue/pgqueue/internal/tcpproxy"
)

// A listener whose connection goes half-open (alive to the OS, but every
// byte dropped, as across a dead network) is found by its ping and
// replaced; meanwhile the fallback poll keeps jobs moving.
func TestHalfOpenListenerIsDetectedAndReplaced(t *testing.T) {
	t.Parallel()
	pool, schema := pgtest.Migrated(t)
	ctx := context.Background()

	direct := pool.Config().ConnConfig
	proxy, listenCfg := proxiedListener(t, direct)

	b, err := pgqueue.NewPostgres(pool, &pgqueue.PostgresOptions{Schema: schema, ListenerConnConfig: listenCfg, LivenessConnConfig: direct, ListenerPingInterval: 300 * time.Millisecond})
	require.NoError(t, err)
	ran := make(chan int, 8)
	startClient(t, b, pgqueue.Config{PollInterval: 500 * time.Millisecond}, func(ctx context.Context, j *pgqueue.Job[pingArgs]) error {
		ran <- j.Args.Seq
		return nil
	})
	listenerReady(t, b)
	var oldPID int
	require.NoError(t, pool.QueryRow(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, b.ListenerName()).Scan(&oldPID))

	require.Equal(t, 1, proxy.Blackhole(), "only the listener goes through the proxy")
	blackholed := time.Now()
	other, err := pgqueue.New(b, pgqueue.Config{})
	require.NoError(t, err)
	_, err = other.Enqueue(ctx, pingArgs{Seq: 1}, nil)
	require.NoError(t, err)
	select {
	case seq := <-ran:
		require.Equal(t, 1, seq)
	case <-time.After(10 * time.Second):
		t.Fatal("a job enqueued while the listener was half-open never ran: the fallback poll failed")
	}

	require.Eventually(t, func() bool {
		var n int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND pid <> $2 AND query LIKE 'LISTEN%' AND backend_start > $3`,
			b.ListenerName(), oldPID, blackholed).Scan(&n)
		return err == nil && n == 1
	}, 10*time.Second, 20*time.Millisecond, "no fresh listener connection replaced the half-open one")

	// The new listener delivers: with the poll far away, a NOTIFY wakes the
	// worker at once.
	start := time.Now()
	_, err = other.Enqueue(ctx, pingArgs{Seq: 2}, nil)
	require.NoError(t, err)
	select {
	case seq := <-ran:
		require.Equal(t, 2, seq)
		t.Logf("picked up %v after enqueue through the new listener", time.Since(start))
	case <-time.After(10 * time.Second):
		t.Fatal("a job enqueued after the listener was replaced never ran")
	}
}

// A network fault in the middle of the listener's pooler probe (the probe
// NOTIFY never arrives because the connection went silent) is a failed
// attempt, retried with a fresh connection; it is not taken for LISTEN
// through a transaction pooler, which would stop the listener for good.
func TestListenerProbeCutByTheNetworkIsRetried(t *testing.T) {
	t.Parallel()
	pool, schema := pgtest.Migrated(t)
	ctx := context.Background()
	direct := pool.Config().ConnConfig
	proxy, listenCfg := proxiedListener(t, direct)
	// Slow the listener's traffic so that its probe is still waiting when
	// the network goes silent.
	proxy.SetDelay(300 * time.Millisecond)
	b, err := pgqueue.NewPostgres(pool, &pgqueue.PostgresOptions{Schema: schema, ListenerConnConfig: listenCfg, LivenessConnConfig: direct})
	require.NoError(t, err)
	startClient(t, b, pgqueue.Config{PollInterval: 500 * time.Millisecond}, func(ctx context.Context, j *pgqueue.Job[pingArgs]) error { return nil })
	require.Eventually(t, func() bool {
		var n int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%pgqueue.probe.%'`, b.ListenerName()).Scan(&n)
		return err == nil && n == 1
	}, 10*time.Second, 2*time.Millisecond, "the listener never started its probe")
	require.Equal(t, 1, proxy.Blackhole(), "only the listener goes through the proxy")
	proxy.SetDelay(0)
	// The probe waits 5 s for its NOTIFY, the ping of the silent
	// connection 1 s, then the listener reconnects after its backoff.
	require.Eventually(t, func() bool {
		var n int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%' AND query NOT LIKE '%pgqueue.probe.%'`, b.ListenerName()).Scan(&n)
		return err == nil && n == 1
	}, 30*time.Second, 20*time.Millisecond, "no fresh listener LISTENs after the probe was cut: it was taken for a transaction pooler and stopped for good")
}

// proxiedListener starts a fault-injecting proxy in front of direct's
// server and returns it with a copy of direct that dials through it, for
// a listener connection whose network the test controls.
func proxiedListener(t *testing.T, direct *pgx.ConnConfig) (*tcpproxy.Proxy, *pgx.ConnConfig) {
	t.Helper()
	proxy, err := tcpproxy.Start(fmt.Sprintf("%s:%d", direct.Host, direct.Port))
	require.NoError(t, err)
	t.Cleanup(proxy.Close)
	listenCfg := direct.Copy()
	listenCfg.Host, listenCfg.Port = "127.0.0.1", proxy.Port()
	return proxy, listenCfg
}
