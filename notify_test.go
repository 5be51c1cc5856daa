package pgqueue_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
)

// debouncePair returns a producer backend with the given NotifyDebounce
// and a worker client on its own backend over the same schema (as a
// separate process would be), whose hour-long poll interval leaves NOTIFY
// as the only way to wake it. Jobs it runs are sent to ran.
func debouncePair(t *testing.T, debounce time.Duration) (producer *pgqueue.PostgresBackend, enq *pgqueue.Client, ran chan int) {
	t.Helper()
	pool, schema := pgtest.Migrated(t)
	producer, err := pgqueue.NewPostgres(pool, &pgqueue.PostgresOptions{Schema: schema, NotifyDebounce: debounce})
	require.NoError(t, err, "producer backend")
	workerSide, err := pgqueue.NewPostgres(pool, &pgqueue.PostgresOptions{Schema: schema})
	require.NoError(t, err, "worker backend")
	ran = make(chan int, 4096)
	startClient(t, workerSide, pgqueue.Config{PollInterval: time.Hour}, func(ctx context.Context, j *pgqueue.Job[pingArgs]) error {
		ran <- j.Args.Seq
		return nil
	})
	listenerReady(t, workerSide)
	// Let the post-LISTEN poll pass, so that only NOTIFY wakes the worker.
	time.Sleep(50 * time.Millisecond)
	enq, err = pgqueue.New(producer, pgqueue.Config{})
	require.NoError(t, err, "producer client")
	return producer, enq, ran
}

// waitRan waits for the jobs seqs to run, failing with what is missing.
func waitRan(t *testing.T, ran chan int, seqs ...int) {
	t.Helper()
	want := map[int]bool{}
	for _, s := range seqs {
		want[s] = true
	}
	deadline := time.After(10 * time.Second)
	for len(want) > 0 {
		select {
		case s := <-ran:
			delete(want, s)
		case <-deadline:
			t.Fatalf("%d jobs never ran with polling off (%v...): a debounced enqueue was never announced", len(want), firstKeys(want, 5))
		}
	}
}

func firstKeys(m map[int]bool, n int) []int {
	var out []int
	for k := range m {
		if len(out) == n {
			break
		}
		out = append(out, k)
	}
	return out
}

func enqueueTx(t *testing.T, b *pgqueue.PostgresBackend, c *pgqueue.Client, seq int, commit bool) {
	t.Helper()
	ctx := context.Background()
	tx, err := b.Pool().Begin(ctx)
	require.NoError(t, err)
	_, err = c.EnqueueTx(ctx, tx, pingArgs{Seq: seq}, nil)
	require.NoError(t, err, "enqueue job %d in a transaction", seq)
	if commit {
		require.NoError(t, tx.Commit(ctx))
	} else {
		require.NoError(t, tx.Rollback(ctx))
	}
}

// A transaction that left its NOTIFY to the trailing notifier and stayed
// open long after the window's NOTIFY was consumed is still announced when
// it commits.
func TestDebouncedEnqueueInLongTransactionRunsAfterCommit(t *testing.T) {
	t.Parallel()
	// A long window, so the second enqueue is certain to be debounced.
	producer, enq, ran := debouncePair(t, time.Hour)
	enqueueTx(t, producer, enq, 1, true)
	waitRan(t, ran, 1)

	ctx := context.Background()
	tx, err := producer.Pool().Begin(ctx)
	require.NoError(t, err)
	_, err = enq.EnqueueTx(ctx, tx, pingArgs{Seq: 2}, nil)
	require.NoError(t, err)
	skipped, pending, _ := pgqueue.TrailState(producer)
	require.EqualValues(t, 1, skipped, "the second enqueue inside the window should have skipped its own NOTIFY")
	require.Equal(t, 1, pending, "the trailing notifier should track the open transaction")
	time.Sleep(300 * time.Millisecond)
	select {
	case s := <-ran:
		t.Fatalf("job %d ran before its transaction committed", s)
	default:
	}
	require.NoError(t, tx.Commit(ctx))
	waitRan(t, ran, 2)
	require.Eventually(t, func() bool {
		_, pending, running := pgqueue.TrailState(producer)
		return pending == 0 && !running
	}, 5*time.Second, 5*time.Millisecond, "the trailing notifier should forget a committed transaction and stop")
}

// A debounced transaction that rolls back is dropped: nothing runs and
// the trailing notifier stops.
func TestDebouncedEnqueueRolledBackIsForgotten(t *testing.T) {
	t.Parallel()
	producer, enq, ran := debouncePair(t, time.Hour)
	enqueueTx(t, producer, enq, 1, true)
	waitRan(t, ran, 1)
	enqueueTx(t, producer, enq, 2, false)
	require.Eventually(t, func() bool {
		_, pending, running := pgqueue.TrailState(producer)
		return pending == 0 && !running
	}, 5*time.Second, 5*time.Millisecond, "the trailing notifier should drop an aborted transaction and stop")
	enqueueTx(t, producer, enq, 3, true)
	waitRan(t, ran, 3)
	select {
	case s := <-ran:
		t.Fatalf("job %d ran, but its transaction rolled back", s)
	case <-time.After(100 * time.Millisecond):
	}
}

// Many producers with the default window: some enqueues are debounced,
// and every job runs without any polling.
func TestDebouncedConcurrentEnqueuesAllRun(t *testing.T) {
	t.Parallel()
	producer, enq, ran := debouncePair(t, 0)
	const goroutines, each = 8, 100
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				enqueueTx(t, producer, enq, g*each+i, true)
			}
		}()
	}
	wg.Wait()
	all := make([]int, goroutines*each)
	for i := range all {
		all[i] = i
	}
	waitRan(t, ran, all...)
	skipped, _, _ := pgqueue.TrailState(producer)
	t.Logf("%d of %d enqueues left their NOTIFY to the trailing notifier", skipped, len(all))
	require.Positive(t, skipped, "8 busy producers should have had enqueues debounced with the default 2ms window")
}

// Batches are debounced as a whole, and Enqueue (outside a transaction)
// is debounced like EnqueueTx.
func TestDebouncedBatchesAndPlainEnqueuesRun(t *testing.T) {
	t.Parallel()
	producer, enq, ran := debouncePair(t, time.Hour)
	ctx := context.Background()
	_, err := enq.Enqueue(ctx, pingArgs{Seq: 0}, nil)
	require.NoError(t, err)
	_, err = enq.EnqueueMany(ctx, []pgqueue.EnqueueRequest{{Args: pingArgs{Seq: 1}}, {Args: pingArgs{Seq: 2}}})
	require.NoError(t, err)
	_, err = enq.Enqueue(ctx, pingArgs{Seq: 3}, nil)
	require.NoError(t, err)
	waitRan(t, ran, 0, 1, 2, 3)
	skipped, _, _ := pgqueue.TrailState(producer)
	require.EqualValues(t, 2, skipped, "the batch and the last enqueue fall inside the first one's window")
}

// A negative NotifyDebounce makes every enqueue notify in its own
// transaction.
func TestNegativeNotifyDebounceNotifiesEveryTransaction(t *testing.T) {
	t.Parallel()
	producer, enq, ran := debouncePair(t, -1)
	for i := range 20 {
		enqueueTx(t, producer, enq, i, true)
	}
	waitRan(t, ran, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19)
	skipped, pending, running := pgqueue.TrailState(producer)
	require.Zero(t, skipped, "no enqueue may skip its NOTIFY with debouncing off")
	require.Zero(t, pending)
	require.False(t, running, "the trailing notifier should never start with debouncing off")
}
