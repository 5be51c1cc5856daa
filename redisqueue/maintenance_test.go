package redisqueue_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/redistest"
)

// PromoteDue and Rescue work in batches of 1000 per queue per script, and
// repeat until a queue is done: one call still handles everything due, and
// PromoteDue's NextIn still counts the queues that needed one batch only.
func TestMaintenanceBeyondOneBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := redistest.Backend(t)
	const n = 2500
	soon := time.Now().Add(time.Second)
	jobs := make([]pgqueue.InsertParams, n, n+1)
	for i := range jobs {
		jobs[i] = pgqueue.InsertParams{Kind: "k", Queue: "big", Priority: 5, Args: []byte(`{}`), MaxAttempts: 2, RunAt: soon}
	}
	jobs = append(jobs, pgqueue.InsertParams{Kind: "k", Queue: "later", Priority: 5, Args: []byte(`{}`), MaxAttempts: 2, RunAt: time.Now().Add(10 * time.Minute)})
	_, err := b.Insert(ctx, jobs)
	require.NoError(t, err)
	if time.Until(soon) < 100*time.Millisecond {
		t.Skip("the machine is too slow: the jobs were due before the insert returned")
	}
	time.Sleep(time.Until(soon) + 20*time.Millisecond)

	res, err := b.PromoteDue(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"big"}, res.Queues)
	require.True(t, res.HasNext, "the job in queue later is still scheduled")
	require.InDelta(t, float64(10*time.Minute), float64(res.NextIn), float64(5*time.Second), "NextIn is the other queue's job, got %v", res.NextIn)

	rows, err := b.Claim(ctx, pgqueue.ClaimParams{Queue: "big", Kinds: []string{"k"}, Limit: n + 10, Lease: 20 * time.Millisecond})
	require.NoError(t, err)
	require.Len(t, rows, n, "one PromoteDue made every due job available")
	time.Sleep(40 * time.Millisecond)
	rescued, err := b.Rescue(ctx, pgqueue.AttemptError{Kind: "lease_expired"})
	require.NoError(t, err)
	require.Equal(t, n, rescued.Requeued, "one Rescue handled every expired lease")
	require.Equal(t, []string{"big"}, rescued.Queues)
}
