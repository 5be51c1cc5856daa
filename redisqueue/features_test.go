package redisqueue_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/redistest"
	"github.com/pgqueue/pgqueue/redisqueue"
)

func uniqueJob(queue, key string) pgqueue.InsertParams {
	return pgqueue.InsertParams{Kind: "k", Queue: queue, Priority: 5, Args: []byte(`{}`), MaxAttempts: 1, UniqueKey: key}
}

func claimK(t *testing.T, b *redisqueue.Backend, queue string, lease time.Duration) []*pgqueue.JobRow {
	t.Helper()
	rows, err := b.Claim(context.Background(), pgqueue.ClaimParams{Queue: queue, Kinds: []string{"k"}, Limit: 10, Lease: lease})
	require.NoError(t, err)
	return rows
}

// Insert reports duplicates with a *DuplicateError and the holders' IDs;
// keys are per queue; rescue's dead-lettering and cancelling free a key;
// a requeued dead letter holds none.
func TestUniqueKeysLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := redistest.Backend(t)
	ids, err := b.Insert(ctx, []pgqueue.InsertParams{uniqueJob("q", "a"), uniqueJob("q", "a"), uniqueJob("other", "a")})
	var dup *pgqueue.DuplicateError
	require.ErrorAs(t, err, &dup)
	require.Equal(t, []int{1}, dup.Indexes)
	require.Equal(t, ids[0], ids[1], "the duplicate reports the holder")
	require.NotEqual(t, ids[0], ids[2], "keys are unique per queue")

	// Rescue dead-letters the job after its only attempt: the key is free.
	rows := claimK(t, b, "q", time.Microsecond)
	require.Len(t, rows, 1)
	time.Sleep(5 * time.Millisecond)
	res, err := b.Rescue(ctx, pgqueue.AttemptError{Kind: "lease_expired", Error: "x"})
	require.NoError(t, err)
	require.Equal(t, 1, res.DeadLettered)
	again, err := b.InsertUnique(ctx, []pgqueue.InsertParams{uniqueJob("q", "a")})
	require.NoError(t, err)
	require.False(t, again[0].Duplicate, "a rescued dead letter frees its key")

	// Requeueing the first job's dead letter does not make it hold the key.
	n, err := b.RequeueDead(ctx, []int64{ids[0]})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.NoError(t, b.CancelJob(ctx, again[0].ID))
	fresh, err := b.InsertUnique(ctx, []pgqueue.InsertParams{uniqueJob("q", "a")})
	require.NoError(t, err)
	require.False(t, fresh[0].Duplicate, "cancelling frees the key, and the requeued job holds none")
	require.ErrorIs(t, b.CancelJob(ctx, again[0].ID), pgqueue.ErrJobNotFound)
}

// A tick is enqueued once; an earlier tick is refused.
func TestEnqueuePeriodicTicks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := redistest.Backend(t)
	job := uniqueJob("q", "")
	tick := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	id, ok, err := b.EnqueuePeriodic(ctx, "p", tick, job)
	require.NoError(t, err)
	require.True(t, ok)
	require.NotZero(t, id)
	for _, tk := range []time.Time{tick, tick.Add(-time.Minute)} {
		_, ok, err = b.EnqueuePeriodic(ctx, "p", tk, job)
		require.NoError(t, err)
		require.False(t, ok, "tick %v is not after the recorded one", tk)
	}
	_, ok, err = b.EnqueuePeriodic(ctx, "p", tick.Add(time.Minute), job)
	require.NoError(t, err)
	require.True(t, ok)
	require.Len(t, claimK(t, b, "q", time.Minute), 2)
}

// A paused queue gives nothing; limits cap claims; setting the same rate
// again keeps an empty bucket empty.
func TestPauseAndLimits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := redistest.Backend(t)
	for range 6 {
		_, err := b.Insert(ctx, []pgqueue.InsertParams{uniqueJob("q", "")})
		require.NoError(t, err)
	}
	require.NoError(t, b.PauseQueue(ctx, "q"))
	require.Empty(t, claimK(t, b, "q", time.Minute))
	was, err := b.ResumeQueue(ctx, "q")
	require.NoError(t, err)
	require.True(t, was)
	was, err = b.ResumeQueue(ctx, "q")
	require.NoError(t, err)
	require.False(t, was)

	rate := &pgqueue.RateLimit{PerSecond: 0.001, Burst: 2}
	require.NoError(t, b.SetQueueLimits(ctx, "q", pgqueue.QueueLimits{MaxRunning: 3, Rate: rate}))
	require.Len(t, claimK(t, b, "q", time.Minute), 2, "the burst caps the claim")
	require.NoError(t, b.SetQueueLimits(ctx, "q", pgqueue.QueueLimits{MaxRunning: 3, Rate: rate}))
	require.Empty(t, claimK(t, b, "q", time.Minute), "the same rate again keeps the empty bucket")
	require.NoError(t, b.SetQueueLimits(ctx, "q", pgqueue.QueueLimits{MaxRunning: 3}))
	require.Len(t, claimK(t, b, "q", time.Minute), 1, "max running 3 with 2 running")
	require.NoError(t, b.SetQueueLimits(ctx, "q", pgqueue.QueueLimits{}))
	require.Len(t, claimK(t, b, "q", time.Minute), 3, "no limits")
	require.ErrorIs(t, b.SetQueueLimits(ctx, "q", pgqueue.QueueLimits{MaxRunning: -1}), pgqueue.ErrInvalidConfig)
	require.ErrorIs(t, b.PauseQueue(ctx, "a{b"), pgqueue.ErrInvalidArgs)
}
