package pgqueue_test

import (
	"context"
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
)

type pingArgs struct {
	Seq int `json:"seq"`
}

func (pingArgs) Kind() string { return "ping" }

// startClient builds, registers and starts a client whose worker reports
// each run on the returned channel; the client is stopped at cleanup.
func startClient(t *testing.T, b pgqueue.Backend, cfg pgqueue.Config, work func(ctx context.Context, j *pgqueue.Job[pingArgs]) error) *pgqueue.Client {
	t.Helper()
	c, err := pgqueue.New(b, cfg)
	require.NoError(t, err, "new client")
	require.NoError(t, pgqueue.Register(c, pgqueue.WorkFunc[pingArgs](work)), "register ping worker")
	require.NoError(t, c.Start(context.Background()), "start client")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Stop(ctx)
	})
	return c
}

// listenerReady waits until the backend's listener connection is LISTENing
// on the queues' channel (not merely on its probe channel, which it LISTENs
// to first).
func listenerReady(t *testing.T, b *pgqueue.PostgresBackend) {
	t.Helper()
	require.Eventually(t, func() bool {
		var n int
		err := b.Pool().QueryRow(context.Background(),
			`SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%' AND query NOT LIKE '%pgqueue.probe.%'`, b.ListenerName()).Scan(&n)
		return err == nil && n > 0
	}, 10*time.Second, 10*time.Millisecond, "the client's listener never connected")
}

func TestEnqueueTxCommitRunsWithinMillisecondsViaNotify(t *testing.T) {
	t.Parallel()
	b := pgtest.Backend(t)
	ran := make(chan time.Time, 16)
	// An hour-long poll interval: only a NOTIFY can wake the worker.
	c := startClient(t, b, pgqueue.Config{PollInterval: time.Hour}, func(ctx context.Context, j *pgqueue.Job[pingArgs]) error {
		ran <- time.Now()
		return nil
	})
	listenerReady(t, b)
	// The first maintenance pass and the post-LISTEN poll happen at start;
	// let them pass so that only the NOTIFY path is measured.
	time.Sleep(50 * time.Millisecond)

	ctx := context.Background()
	var latencies []time.Duration
	for i := range 5 {
		tx, err := b.Pool().Begin(ctx)
		require.NoError(t, err)
		_, err = c.EnqueueTx(ctx, tx, pingArgs{Seq: i}, nil)
		require.NoError(t, err, "enqueue in transaction")
		committed := time.Now()
		require.NoError(t, tx.Commit(ctx))
		select {
		case at := <-ran:
			latencies = append(latencies, at.Sub(committed))
		case <-time.After(5 * time.Second):
			t.Fatalf("job %d did not run within 5s of commit, with polling effectively off: the NOTIFY wake-up is broken", i)
		}
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	t.Logf("commit-to-run latencies: %v", latencies)
	require.Less(t, latencies[len(latencies)/2], 100*time.Millisecond, "median commit-to-run latency must be under 100ms with LISTEN/NOTIFY")
}

func TestEnqueueTxRollbackNeverRunsNorWakes(t *testing.T) {
	t.Parallel()
	b := pgtest.Backend(t)
	ctx := context.Background()
	ran := make(chan int64, 1)
	c := startClient(t, b, pgqueue.Config{PollInterval: 20 * time.Millisecond}, func(ctx context.Context, j *pgqueue.Job[pingArgs]) error {
		ran <- j.ID
		return nil
	})
	// A separate listener on the same channel sees any NOTIFY sent.
	conn, err := pgx.ConnectConfig(ctx, b.Pool().Config().ConnConfig)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "LISTEN "+pgx.Identifier{"pgqueue." + b.Schema()}.Sanitize())
	require.NoError(t, err)

	tx, err := b.Pool().Begin(ctx)
	require.NoError(t, err)
	id, err := c.EnqueueTx(ctx, tx, pingArgs{Seq: 1}, nil)
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(ctx))

	waitCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	n, err := conn.WaitForNotification(waitCtx)
	require.Error(t, err, "a rolled-back enqueue sent a notification: %+v", n)
	select {
	case got := <-ran:
		t.Fatalf("job %d ran although its transaction rolled back", got)
	default:
	}
	var count int
	require.NoError(t, b.Pool().QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{b.Schema(), "pgqueue_jobs"}.Sanitize()+" WHERE id = $1", id).Scan(&count))
	require.Zero(t, count, "the rolled-back job must not exist")
}

func TestEnqueueManyTxNotifiesOncePerQueue(t *testing.T) {
	t.Parallel()
	pool, schema := pgtest.Migrated(t)
	// A long NotifyDebounce: the transaction's second statement below is
	// certain to fall in the window its first one opened, and must not
	// earn a trailing NOTIFY on top of the one it carries.
	b, err := pgqueue.NewPostgres(pool, &pgqueue.PostgresOptions{Schema: schema, NotifyDebounce: time.Hour})
	require.NoError(t, err)
	ctx := context.Background()
	c, err := pgqueue.New(b, pgqueue.Config{})
	require.NoError(t, err)
	conn, err := pgx.ConnectConfig(ctx, b.Pool().Config().ConnConfig)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "LISTEN "+pgx.Identifier{"pgqueue." + b.Schema()}.Sanitize())
	require.NoError(t, err)

	var reqs []pgqueue.EnqueueRequest
	for i := range 100 {
		q := "alpha"
		if i%2 == 1 {
			q = "beta"
		}
		reqs = append(reqs, pgqueue.EnqueueRequest{Args: pingArgs{Seq: i}, Options: &pgqueue.EnqueueOptions{Queue: q}})
	}
	// A scheduled job must not wake its queue.
	reqs = append(reqs, pgqueue.EnqueueRequest{Args: pingArgs{}, Options: &pgqueue.EnqueueOptions{Queue: "gamma", Delay: time.Hour}})
	tx, err := b.Pool().Begin(ctx)
	require.NoError(t, err)
	ids, err := c.EnqueueManyTx(ctx, tx, reqs)
	require.NoError(t, err)
	require.Len(t, ids, 101)
	for i := 1; i < len(ids); i++ {
		require.Greater(t, ids[i], ids[i-1], "IDs must come back in enqueue order")
	}
	// A second statement in the same transaction: Postgres folds its
	// notifications into the first ones.
	_, err = c.EnqueueTx(ctx, tx, pingArgs{}, &pgqueue.EnqueueOptions{Queue: "alpha"})
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))

	var got []string
	for {
		waitCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		if err != nil {
			break
		}
		got = append(got, n.Payload)
	}
	sort.Strings(got)
	require.Equal(t, []string{"alpha", "beta"}, got, "want exactly one NOTIFY per queue with due jobs for the whole transaction")
}

func TestListenerReconnectsAfterItsConnectionIsKilled(t *testing.T) {
	t.Parallel()
	b := pgtest.Backend(t)
	ran := make(chan int, 16)
	c := startClient(t, b, pgqueue.Config{PollInterval: time.Hour}, func(ctx context.Context, j *pgqueue.Job[pingArgs]) error {
		ran <- j.Args.Seq
		return nil
	})
	listenerReady(t, b)
	ctx := context.Background()
	var killed int
	require.NoError(t, b.Pool().QueryRow(ctx,
		`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, b.ListenerName()).Scan(&killed))
	require.Equal(t, 1, killed, "expected to kill exactly one listener connection")

	// Enqueued while the listener is down: found by the poll that follows
	// the re-LISTEN, not by the hour-long poll interval.
	_, err := b.Insert(ctx, []pgqueue.InsertParams{{Kind: "ping", Queue: "default", Priority: 5, Args: []byte(`{"seq":7}`), MaxAttempts: 3}})
	require.NoError(t, err)
	select {
	case seq := <-ran:
		require.Equal(t, 7, seq)
	case <-time.After(10 * time.Second):
		t.Fatal("job enqueued while the listener was down did not run after it reconnected")
	}
	listenerReady(t, b)
	_, err = c.Enqueue(ctx, pingArgs{Seq: 8}, nil)
	require.NoError(t, err)
	select {
	case seq := <-ran:
		require.Equal(t, 8, seq)
	case <-time.After(10 * time.Second):
		t.Fatal("job enqueued after the listener reconnected did not run")
	}
}

func TestPollOnlyModeWorksWithoutListen(t *testing.T) {
	t.Parallel()
	b := pgtest.Backend(t)
	ran := make(chan int, 1)
	c := startClient(t, b, pgqueue.Config{PollOnly: true, PollInterval: 30 * time.Millisecond}, func(ctx context.Context, j *pgqueue.Job[pingArgs]) error {
		ran <- j.Args.Seq
		return nil
	})
	// Enqueue from another client so that the local wake-up cannot help.
	other, err := pgqueue.New(b, pgqueue.Config{})
	require.NoError(t, err)
	_, err = other.Enqueue(context.Background(), pingArgs{Seq: 3}, nil)
	require.NoError(t, err)
	select {
	case seq := <-ran:
		require.Equal(t, 3, seq)
	case <-time.After(10 * time.Second):
		t.Fatal("poll-only client never ran the job")
	}
	var listeners int
	require.NoError(t, b.Pool().QueryRow(context.Background(),
		`SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, b.ListenerName()).Scan(&listeners))
	require.Zero(t, listeners, "a PollOnly client must not open a listener connection")
	_ = c
}

type ledgerArgs struct {
	Amount int `json:"amount"`
}

func (ledgerArgs) Kind() string { return "ledger" }

func TestCompleteTxCommitsWorkAndCompletionTogether(t *testing.T) {
	t.Parallel()
	b := pgtest.Backend(t)
	ctx := context.Background()
	ledger := pgx.Identifier{b.Schema(), "ledger"}.Sanitize()
	_, err := b.Pool().Exec(ctx, "CREATE TABLE "+ledger+" (job_id bigint PRIMARY KEY, amount int)")
	require.NoError(t, err)
	jobs := pgx.Identifier{b.Schema(), "pgqueue_jobs"}.Sanitize()

	c, err := pgqueue.New(b, pgqueue.Config{PollInterval: 20 * time.Millisecond})
	require.NoError(t, err)
	results := make(chan error, 4)
	require.NoError(t, pgqueue.Register(c, pgqueue.WorkFunc[ledgerArgs](func(ctx context.Context, j *pgqueue.Job[ledgerArgs]) error {
		tx, err := b.Pool().Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, "INSERT INTO "+ledger+" VALUES ($1, $2)", j.ID, j.Args.Amount); err != nil {
			return err
		}
		if j.Args.Amount < 0 {
			// Simulate a rescuer having handed the job to someone else.
			if _, err := b.Pool().Exec(ctx, "UPDATE "+jobs+" SET lease_token = lease_token + 1 WHERE id = $1", j.ID); err != nil {
				return err
			}
		}
		err = c.CompleteTx(ctx, tx, j)
		results <- err
		if err != nil {
			return pgqueue.Permanent(err)
		}
		return tx.Commit(ctx)
	})))
	require.NoError(t, c.Start(ctx))
	t.Cleanup(func() { _ = c.Stop(context.Background()) })

	okID, err := c.Enqueue(ctx, ledgerArgs{Amount: 5}, nil)
	require.NoError(t, err)
	require.NoError(t, <-results, "CompleteTx on a held job")
	require.Eventually(t, func() bool {
		var rows, jobsLeft int
		_ = b.Pool().QueryRow(ctx, "SELECT (SELECT count(*) FROM "+ledger+" WHERE job_id = $1), (SELECT count(*) FROM "+jobs+" WHERE id = $1)", okID).Scan(&rows, &jobsLeft)
		return rows == 1 && jobsLeft == 0
	}, 5*time.Second, 10*time.Millisecond, "the worker's write and the job's completion must both be committed")

	lostID, err := c.Enqueue(ctx, ledgerArgs{Amount: -1}, nil)
	require.NoError(t, err)
	err = <-results
	require.ErrorIs(t, err, pgqueue.ErrLeaseLost, "CompleteTx must refuse a job whose lease token moved on")
	var rows int
	require.NoError(t, b.Pool().QueryRow(ctx, "SELECT count(*) FROM "+ledger+" WHERE job_id = $1", lostID).Scan(&rows))
	require.Zero(t, rows, "the worker rolled back, so its write must not exist")
}

func TestTxMethodsRefuseNonPostgresBackendsAndBadInput(t *testing.T) {
	t.Parallel()
	b := pgtest.Backend(t)
	ctx := context.Background()
	c, err := pgqueue.New(b, pgqueue.Config{})
	require.NoError(t, err)
	_, err = c.EnqueueTx(ctx, nil, pingArgs{}, nil)
	require.ErrorIs(t, err, pgqueue.ErrInvalidArgs, "EnqueueTx with a nil tx")
	err = c.CompleteTx(ctx, b.Pool(), &pgqueue.Job[pingArgs]{ID: 1})
	require.ErrorIs(t, err, pgqueue.ErrInvalidArgs, "CompleteTx with a job this client never handed out")
	_, err = c.EnqueueTx(ctx, b.Pool(), pingArgs{}, &pgqueue.EnqueueOptions{Priority: 99})
	require.ErrorIs(t, err, pgqueue.ErrInvalidArgs, "EnqueueTx validates like Enqueue")
}

func TestDeadLettersAreQueryableWithPlainSQL(t *testing.T) {
	t.Parallel()
	b := pgtest.Backend(t)
	ctx := context.Background()
	const attempts = 3
	c := startClient(t, b, pgqueue.Config{
		PollInterval: 20 * time.Millisecond,
		Retry:        pgqueue.RetryPolicy{Base: 20 * time.Millisecond, Max: time.Second, NoJitter: true},
	}, func(ctx context.Context, j *pgqueue.Job[pingArgs]) error {
		return errors.New("smtp: connection refused")
	})
	id, err := c.Enqueue(ctx, pingArgs{Seq: 42}, &pgqueue.EnqueueOptions{MaxAttempts: attempts})
	require.NoError(t, err)

	dead := pgx.Identifier{b.Schema(), "pgqueue_dead_jobs"}.Sanitize()
	var (
		kind, lastErr string
		seq, attempt  int
		errCount      int
	)
	require.Eventually(t, func() bool {
		err := b.Pool().QueryRow(ctx, `SELECT kind, (args->>'seq')::int, attempt, jsonb_array_length(errors), last_error FROM `+dead+` WHERE id = $1`, id).
			Scan(&kind, &seq, &attempt, &errCount, &lastErr)
		return err == nil
	}, 10*time.Second, 20*time.Millisecond, "the failing job never reached the dead-letter table")
	require.Equal(t, "ping", kind)
	require.Equal(t, 42, seq, "args must be queryable as jsonb")
	require.Equal(t, attempts, attempt)
	require.Equal(t, attempts, errCount, "one error per attempt")
	require.Equal(t, "smtp: connection refused", lastErr)

	var byKind int
	require.NoError(t, b.Pool().QueryRow(ctx, `SELECT count(*) FROM `+dead+` WHERE kind = 'ping'`).Scan(&byKind))
	require.Equal(t, 1, byKind)

	n, err := c.RequeueDead(ctx, id)
	require.NoError(t, err)
	require.Equal(t, 1, n, "requeue must move the dead job back")
	_, err = c.PurgeDead(ctx, pgqueue.DeadFilter{})
	require.ErrorIs(t, err, pgqueue.ErrInvalidArgs, "an empty purge filter must be refused")
	_, err = c.RequeueDead(ctx)
	require.ErrorIs(t, err, pgqueue.ErrInvalidArgs, "requeue with no IDs must be refused")
}

func TestClientReportsKindsItHasNoWorkerFor(t *testing.T) {
	t.Parallel()
	b := pgtest.Backend(t)
	ctx := context.Background()
	_, err := b.Insert(ctx, []pgqueue.InsertParams{
		{Kind: "someone.else", Queue: "default", Priority: 5, Args: []byte(`{}`), MaxAttempts: 3},
		{Kind: "someone.else", Queue: "default", Priority: 5, Args: []byte(`{}`), MaxAttempts: 3},
	})
	require.NoError(t, err)
	c := startClient(t, b, pgqueue.Config{PollInterval: 20 * time.Millisecond, UnworkedKindsInterval: 50 * time.Millisecond},
		func(ctx context.Context, j *pgqueue.Job[pingArgs]) error { return nil })
	require.Eventually(t, func() bool {
		return c.UnworkedKinds()["default"]["someone.else"] == 2
	}, 10*time.Second, 20*time.Millisecond, "the client never reported the 2 waiting jobs of a kind it has no worker for; got %v", c.UnworkedKinds())
	var attempts int
	require.NoError(t, b.Pool().QueryRow(ctx, "SELECT coalesce(sum(attempt), 0) FROM "+pgx.Identifier{b.Schema(), "pgqueue_jobs"}.Sanitize()).Scan(&attempts))
	require.Zero(t, attempts, "reporting must not touch the jobs")

	idle, err := pgqueue.New(b, pgqueue.Config{})
	require.NoError(t, err)
	require.Nil(t, idle.UnworkedKinds(), "a client that is not running reports nothing")
}

func TestEnqueueManyFastCopiesJobsWithMetadata(t *testing.T) {
	t.Parallel()
	b := pgtest.Backend(t)
	ctx := context.Background()
	c, err := pgqueue.New(b, pgqueue.Config{})
	require.NoError(t, err)
	reqs := []pgqueue.EnqueueRequest{
		{Args: pingArgs{Seq: 1}, Options: &pgqueue.EnqueueOptions{Metadata: map[string]string{"tenant": "acme"}}},
		{Args: pingArgs{Seq: 2}, Options: &pgqueue.EnqueueOptions{Queue: "later", Delay: time.Hour}},
	}
	n, err := c.EnqueueManyFast(ctx, reqs)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	rows, err := b.Claim(ctx, pgqueue.ClaimParams{Queue: "default", Kinds: []string{"ping"}, Limit: 10, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, rows, 1, "the due job is claimable, the delayed one is not")
	require.Equal(t, map[string]string{"tenant": "acme"}, rows[0].Metadata)
	_, err = c.EnqueueManyFast(ctx, []pgqueue.EnqueueRequest{{Args: pingArgs{}, Options: &pgqueue.EnqueueOptions{Priority: 42}}})
	require.ErrorIs(t, err, pgqueue.ErrInvalidArgs, "COPY validates like EnqueueMany")
}
