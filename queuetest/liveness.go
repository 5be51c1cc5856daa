package queuetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
)

// livenessBehaviours check the LivenessKeeper contract the same way on
// every backend that has one: a client is alive while its KeepAlive runs;
// only the jobs of clients that are not, claimed more than minAge ago, are
// rescued, with the same requeue or dead-letter rule as Rescue.
func livenessBehaviours() []behaviour {
	return []behaviour{
		{"RescueGoneFreesOnlyGoneClientsOldClaims", testRescueGoneFreesOnlyGoneClientsOldClaims},
	}
}

func testRescueGoneFreesOnlyGoneClientsOldClaims(t *testing.T, b pgqueue.Backend) {
	lk, ok := b.(pgqueue.LivenessKeeper)
	if !ok {
		t.Skip("queuetest: the backend has no LivenessKeeper; its clients' jobs are rescued by lease expiry alone")
	}
	ctx := context.Background()
	kctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	bound := make(chan struct{}, 16)
	go func() {
		done <- lk.KeepAlive(kctx, pgqueue.LivenessParams{ClientID: "queuetest-alive", Bound: func() { bound <- struct{}{} }})
	}()
	t.Cleanup(func() { stop(); <-done })
	select {
	case <-bound:
	case <-time.After(10 * time.Second):
		t.Fatal("KeepAlive never called LivenessParams.Bound: a client waits for it before it claims, and declares its liveness by it")
	}

	retried, spent := job("queuetest.live"), job("queuetest.live")
	spent.MaxAttempts = 1
	ids := insert(t, b, retried, spent, job("queuetest.live"))
	claimBy := func(client string, limit int) []*pgqueue.JobRow {
		rows, err := b.Claim(ctx, pgqueue.ClaimParams{Queue: pgqueue.DefaultQueue, Kinds: []string{"queuetest.live"}, Limit: limit, Lease: longLease, ClientID: client})
		require.NoError(t, err)
		return rows
	}
	gone := claimBy("queuetest-gone", 2)
	require.Equal(t, ids[:2], rowIDs(gone), "the gone client claims the first two jobs")
	alive := claimBy("queuetest-alive", 1)
	require.Len(t, alive, 1)

	holders, err := lk.Holders(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]bool{"queuetest-gone": false, "queuetest-alive": true}, holders,
		"Holders reports every holder of running jobs and whether its liveness is bound (bound since Bound was called)")

	info := pgqueue.AttemptError{At: time.Now().UTC(), Kind: "client_gone", Error: "queuetest: gone"}
	res, err := lk.RescueGone(ctx, []string{"queuetest-gone", "queuetest-alive"}, time.Hour, info)
	require.NoError(t, err)
	require.Zero(t, res.Requeued+res.DeadLettered, "claims younger than minAge are left alone")

	time.Sleep(50 * time.Millisecond)
	res, err = lk.RescueGone(ctx, []string{"queuetest-gone", "queuetest-alive"}, 10*time.Millisecond, info)
	require.NoError(t, err)
	require.Equal(t, 1, res.Requeued, "the gone client's job with attempts left is requeued")
	require.Equal(t, 1, res.DeadLettered, "the gone client's job with no attempts left is dead-lettered")
	require.Equal(t, []string{pgqueue.DefaultQueue}, res.Queues)
	require.NotNil(t, deadByID(t, b, ids[1]), "the job out of attempts is in the dead-letter store")
	again := claim(t, b, pgqueue.DefaultQueue, 10, longLease, "queuetest.live")
	require.Equal(t, []int64{ids[0]}, rowIDs(again), "only the gone client's requeued job is claimable again; the live client's stays held")
	lost, err := b.Heartbeat(ctx, []pgqueue.JobRef{alive[0].Ref()}, longLease)
	require.NoError(t, err)
	require.Empty(t, lost, "the live client's claim is untouched")
}
