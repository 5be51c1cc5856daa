package memqueue_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/memqueue"
)

type livenessArgs struct {
	N int `json:"n"`
}

func (livenessArgs) Kind() string { return "memqueue.liveness" }

// A client whose KeepAlive ended without Stop (a process-like client
// that vanished, its job still running) has that job run again by
// another client with default settings (a 30s lease) within seconds,
// recorded as "client_gone"; a client whose KeepAlive runs keeps its job.
func TestMemqueueDeadClientsJobRunsAgainWithinSeconds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := memqueue.New()
	ids, err := b.Insert(ctx, []pgqueue.InsertParams{
		{Kind: livenessArgs{}.Kind(), Queue: pgqueue.DefaultQueue, Priority: pgqueue.DefaultPriority, Args: []byte(`{"n":1}`), MaxAttempts: 3, RunAt: time.Now()},
		{Kind: livenessArgs{}.Kind(), Queue: pgqueue.DefaultQueue, Priority: pgqueue.DefaultPriority, Args: []byte(`{"n":2}`), MaxAttempts: 3, RunAt: time.Now()},
	})
	require.NoError(t, err)
	keep := func(client string) context.CancelFunc {
		kctx, cancel := context.WithCancel(ctx)
		go func() { _ = b.KeepAlive(kctx, pgqueue.LivenessParams{ClientID: client}) }()
		return cancel
	}
	killDoomed, keepSteady := keep("doomed"), keep("steady")
	t.Cleanup(killDoomed)
	t.Cleanup(keepSteady)
	for _, client := range []string{"doomed", "steady"} {
		rows, err := b.Claim(ctx, pgqueue.ClaimParams{Queue: pgqueue.DefaultQueue, Kinds: []string{livenessArgs{}.Kind()}, Limit: 1, Lease: 30 * time.Second, ClientID: client})
		require.NoError(t, err)
		require.Len(t, rows, 1)
	}
	require.Eventually(t, func() bool {
		h, err := b.Holders(ctx)
		return err == nil && h["doomed"] && h["steady"]
	}, time.Second, time.Millisecond, "Holders reports both clients alive while their KeepAlive runs")

	c, err := pgqueue.New(b, pgqueue.Config{ID: "rescuer", Queues: map[string]pgqueue.QueueConfig{pgqueue.DefaultQueue: {MaxWorkers: 2}}})
	require.NoError(t, err)
	var mu sync.Mutex
	var runs []*pgqueue.Job[livenessArgs]
	ran := make(chan time.Time, 4)
	require.NoError(t, pgqueue.Register(c, pgqueue.WorkFunc[livenessArgs](func(ctx context.Context, j *pgqueue.Job[livenessArgs]) error {
		mu.Lock()
		runs = append(runs, j)
		mu.Unlock()
		ran <- time.Now()
		return nil
	})))
	require.NoError(t, c.Start(ctx))
	t.Cleanup(func() { _ = c.Stop(ctx) })
	time.Sleep(2500 * time.Millisecond) // the rescuer's watch sees both alive
	died := time.Now()
	killDoomed()

	select {
	case at := <-ran:
		t.Logf("the dead client's job ran again %v after its KeepAlive ended (lease 30s)", at.Sub(died).Round(10*time.Millisecond))
		require.Less(t, at.Sub(died), 4*time.Second, "within LivenessGrace (2s) and two RescueIntervals (1s)")
	case <-time.After(15 * time.Second):
		t.Fatal("the dead client's job did not run again within 15s (its lease is 30s)")
	}
	time.Sleep(3 * time.Second) // time for a wrong rescue of the steady client's job to show
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, runs, 1, "only the dead client's job runs again; the live client keeps its own")
	require.Equal(t, ids[0], runs[0].ID)
	require.Equal(t, 2, runs[0].Attempt)
	require.Len(t, runs[0].Errors, 1)
	require.Equal(t, "client_gone", runs[0].Errors[0].Kind)
}

// RescueGone moves the jobs of the clients it is given only while their
// KeepAlive is not running, and only those claimed more than minAge ago
// (on the backend's clock).
func TestMemqueueRescueGoneSparesLiveClientsAndYoungClaims(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Now()
	b := memqueue.New(memqueue.WithClock(func() time.Time { return now }))
	_, err := b.Insert(ctx, []pgqueue.InsertParams{
		{Kind: "k", Queue: pgqueue.DefaultQueue, Priority: pgqueue.DefaultPriority, Args: []byte(`{}`), MaxAttempts: 1, RunAt: now},
		{Kind: "k", Queue: pgqueue.DefaultQueue, Priority: pgqueue.DefaultPriority, Args: []byte(`{}`), MaxAttempts: 1, RunAt: now},
	})
	require.NoError(t, err)
	for _, client := range []string{"gone", "alive"} {
		_, err := b.Claim(ctx, pgqueue.ClaimParams{Queue: pgqueue.DefaultQueue, Kinds: []string{"k"}, Limit: 1, Lease: time.Minute, ClientID: client})
		require.NoError(t, err)
	}
	kctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _ = b.KeepAlive(kctx, pgqueue.LivenessParams{ClientID: "alive"}) }()
	require.Eventually(t, func() bool { h, _ := b.Holders(ctx); return h["alive"] }, time.Second, time.Millisecond)

	info := pgqueue.AttemptError{Kind: "client_gone", Error: "gone"}
	res, err := b.RescueGone(ctx, []string{"gone", "alive"}, time.Second, info)
	require.NoError(t, err)
	require.Zero(t, res.DeadLettered+res.Requeued, "claims younger than minAge stay")
	now = now.Add(2 * time.Second)
	res, err = b.RescueGone(ctx, []string{"gone", "alive"}, time.Second, info)
	require.NoError(t, err)
	require.Equal(t, pgqueue.RescueResult{DeadLettered: 1}, res, "the gone client's job, on its last attempt, is dead-lettered; the live one's stays")
	require.Equal(t, 1, b.Stats().Running)
}
