package pgqueue_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
)

// syncBuffer is a log destination that the client's goroutines and the
// test can share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A listener that cannot connect used to fail in silence, even with a
// logger set; now the failure reaches the log (once, then at most once a
// minute), while polling keeps jobs moving.
func TestListenerThatCannotConnectIsLogged(t *testing.T) {
	t.Parallel()
	pool, schema := pgtest.Migrated(t)
	// A port nobody listens on: connecting fails at once, every time.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	cfg := pool.Config().ConnConfig.Copy()
	cfg.Host, cfg.Port = "127.0.0.1", uint16(port)
	b, err := pgqueue.NewPostgres(pool, &pgqueue.PostgresOptions{Schema: schema, ListenerConnConfig: cfg})
	require.NoError(t, err)
	logs := &syncBuffer{}
	ran := make(chan struct{}, 1)
	c := startClient(t, b, pgqueue.Config{PollInterval: 100 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(logs, nil))},
		func(ctx context.Context, j *pgqueue.Job[pingArgs]) error { ran <- struct{}{}; return nil })
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "listener connection failed") }, 10*time.Second, 20*time.Millisecond,
		"a listener that cannot connect must say so in the log; log so far:\n%s", logs.String())
	_, err = c.Enqueue(context.Background(), pingArgs{}, nil)
	require.NoError(t, err)
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("with the listener down, polling should still run the job")
	}
	// Reconnects every few seconds do not flood the log.
	time.Sleep(time.Second)
	require.Equal(t, 1, strings.Count(logs.String(), "listener connection failed"), "repeats within a minute are counted, not logged:\n%s", logs.String())
}

// A listener that can never start (the database does not exist) returns
// its error instead of retrying for ever in silence.
func TestListenReturnsAnErrorThatReconnectingCannotCure(t *testing.T) {
	t.Parallel()
	pool, schema := pgtest.Migrated(t)
	cfg := pool.Config().ConnConfig.Copy()
	cfg.Database = "pgqueue_no_such_database"
	b, err := pgqueue.NewPostgres(pool, &pgqueue.PostgresOptions{Schema: schema, ListenerConnConfig: cfg})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = b.Listen(ctx, func(string) {})
	require.ErrorIs(t, err, pgqueue.ErrDatabase, "Listen on a missing database should fail at once")
	require.Contains(t, err.Error(), "pgqueue_no_such_database")
	require.NoError(t, ctx.Err(), "Listen should not have waited for its context to end")
}
