package redisqueue_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/redistest"
)

// claimIn stores n jobs of kind "k" in queue and claims them.
func claimIn(t *testing.T, b pgqueue.Backend, queue string, n int) []pgqueue.JobRef {
	t.Helper()
	ctx := context.Background()
	jobs := make([]pgqueue.InsertParams, n)
	for i := range jobs {
		jobs[i] = pgqueue.InsertParams{Kind: "k", Queue: queue, Priority: 5, Args: []byte(`{}`), MaxAttempts: 3}
	}
	_, err := b.Insert(ctx, jobs)
	require.NoError(t, err)
	rows, err := b.Claim(ctx, pgqueue.ClaimParams{Queue: queue, Kinds: []string{"k"}, Limit: n, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, rows, n)
	refs := make([]pgqueue.JobRef, n)
	for i, r := range rows {
		refs[i] = r.Ref()
	}
	return refs
}

// A completion whose reply was lost is resent with the same refs (by
// go-redis, or by the engine's retry of the batch). The resend must
// answer as the first run did: the jobs it completed are reported held,
// not lost, so that no EventLeaseLost is published for a job that
// completed. A ref that was lost the first time is still reported lost.
func TestCompleteResentBatchReportsTheStoredAnswer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := redistest.Backend(t)
	a := claimIn(t, b, "guard-a", 3)
	c := claimIn(t, b, "guard-b", 2)
	stale := pgqueue.JobRef{ID: a[2].ID, Token: a[2].Token + 1} // a token never issued
	refs := []pgqueue.JobRef{a[0], c[0], a[1], stale, c[1]}

	lost, err := b.Complete(ctx, refs)
	require.NoError(t, err)
	require.Equal(t, []pgqueue.JobRef{stale}, lost)
	for q, rs := range map[string][]pgqueue.JobRef{"guard-a": a[:2], "guard-b": c} {
		for _, r := range rs {
			n, err := admin(t).Exists(ctx, jobKey(b, q, r.ID)).Result()
			require.NoError(t, err)
			require.Zero(t, n, "job %d was completed", r.ID)
		}
	}

	for range 2 {
		again, err := b.Complete(ctx, refs)
		require.NoError(t, err)
		require.Equal(t, []pgqueue.JobRef{stale}, again, "a resent batch reports what the first run stored")
	}

	// The guards: one per queue of the batch, in the queue's slot, expiring.
	keys, err := redistest.Keys(ctx, admin(t), b.Prefix())
	require.NoError(t, err)
	var guards []string
	for _, k := range keys {
		if strings.Contains(k, ":done:") {
			guards = append(guards, k)
		}
	}
	require.Len(t, guards, 2, "one guard per queue of the batch: %v", keys)
	for _, g := range guards {
		require.True(t, strings.HasPrefix(g, "{"+b.Prefix()+":guard-a}:done:") || strings.HasPrefix(g, "{"+b.Prefix()+":guard-b}:done:"), "guard %s is in its queue's slot", g)
		ttl, err := admin(t).PTTL(ctx, g).Result()
		require.NoError(t, err)
		require.Greater(t, ttl, time.Duration(0), "guard %s expires", g)
		require.LessOrEqual(t, ttl, 60*time.Second, "guard %s expires within a minute", g)
	}

	// The still-held job, completed under its own token in another batch,
	// is not answered by the first batch's guard.
	lost, err = b.Complete(ctx, []pgqueue.JobRef{a[2]})
	require.NoError(t, err)
	require.Empty(t, lost)
	// A different batch of refs already completed is not guarded: it
	// reports them lost, as before.
	lost, err = b.Complete(ctx, []pgqueue.JobRef{a[0]})
	require.NoError(t, err)
	require.Equal(t, []pgqueue.JobRef{a[0]}, lost)
}

// Heartbeat leaves no retry guard: renewing a lease twice is harmless, and
// a batch heartbeated twice must see a lease lost in between.
func TestHeartbeatLeavesNoGuard(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := redistest.Backend(t)
	refs := claimIn(t, b, "guard-hb", 2)
	for range 2 {
		lost, err := b.Heartbeat(ctx, refs, time.Minute)
		require.NoError(t, err)
		require.Empty(t, lost)
	}
	keys, err := redistest.Keys(ctx, admin(t), b.Prefix())
	require.NoError(t, err)
	for _, k := range keys {
		require.NotContains(t, k, ":done:", "heartbeat wrote a guard")
	}
	lost, err := b.Complete(ctx, refs)
	require.NoError(t, err)
	require.Empty(t, lost)
	lost, err = b.Heartbeat(ctx, refs, time.Minute)
	require.NoError(t, err)
	require.Equal(t, refs, lost, "completed jobs' leases are lost to a heartbeat")
}
