package queuetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
)

func cancelBehaviours() []behaviour {
	return []behaviour{
		{"CancelWaitingJob", testCancelWaitingJob},
		{"CancelRunningJobOnAnotherClient", testCancelRunningJobOnAnotherClient},
	}
}

func requireCanceller(t *testing.T, b pgqueue.Backend) {
	t.Helper()
	if _, ok := b.(pgqueue.Canceller); !ok {
		t.Skipf("%T does not implement pgqueue.Canceller", b)
	}
}

// A cancelled waiting job never runs and is visible as a dead letter.
func testCancelWaitingJob(t *testing.T, b pgqueue.Backend) {
	requireCanceller(t, b)
	c := newClient(t, b, fastConfig(t))
	id := enqueue(t, c, basicArgs{N: 1}, &pgqueue.EnqueueOptions{Delay: time.Hour})
	require.NoError(t, c.Cancel(context.Background(), id))
	d := deadByID(t, b, id)
	require.NotNil(t, d, "a cancelled job is visible in the dead-letter store")
	require.Equal(t, "cancelled", d.Errors[len(d.Errors)-1].Kind)
	require.ErrorIs(t, c.Cancel(context.Background(), id), pgqueue.ErrJobNotFound, "a cancelled job is no longer in the queue")
	require.ErrorIs(t, c.Cancel(context.Background(), 987654321), pgqueue.ErrJobNotFound)
	promote(t, b)
	requireNothingClaimable(t, b, pgqueue.DefaultQueue, "the cancelled job must never run", basicArgs{}.Kind())
}

// Cancelling a job that another client is running cancels its context
// within a second, and the job is final.
func testCancelRunningJobOnAnotherClient(t *testing.T, b pgqueue.Backend) {
	requireCanceller(t, b)
	runner := newClient(t, b, fastConfig(t))
	started := make(chan int64, 1)
	stopped := make(chan error, 1)
	register(t, runner, func(ctx context.Context, j *pgqueue.Job[basicArgs]) error {
		started <- j.ID
		<-ctx.Done()
		stopped <- context.Cause(ctx)
		return ctx.Err()
	})
	start(t, runner)
	other := newClient(t, b, fastConfig(t))
	id := enqueue(t, other, basicArgs{N: 1}, &pgqueue.EnqueueOptions{MaxAttempts: 5})
	require.Equal(t, id, recv(t, started, "the job to start"))

	sub := runner.Subscribe(8)
	defer sub.Close()
	cancelledAt := time.Now()
	require.NoError(t, other.Cancel(context.Background(), id))
	cause := recv(t, stopped, "the running job's context to be cancelled")
	took := time.Since(cancelledAt)
	require.Less(t, took, time.Second, "a running job must be stopped within 1s of its cancellation (took %v)", took)
	// The cancellation message normally arrives first; on a loaded machine
	// the runner's heartbeat may notice the lost lease before it does.
	if !errors.Is(cause, pgqueue.ErrJobCancelled) {
		require.ErrorIs(t, cause, pgqueue.ErrLeaseLost, "the run is stopped as cancelled (or, if its heartbeat noticed first, as lease lost)")
	}
	ev := recv(t, sub.C, "the cancelled event")
	require.Contains(t, []pgqueue.EventKind{pgqueue.EventCancelled, pgqueue.EventLeaseLost}, ev.Kind)
	d := deadByID(t, b, id)
	require.NotNil(t, d, "the cancelled job is visible as a dead letter")
	require.Equal(t, "cancelled", d.Errors[len(d.Errors)-1].Kind)
	require.Equal(t, 1, d.Attempt, "it is not retried")
}
