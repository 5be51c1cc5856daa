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
		{"DeclaredClientNeverSeenAliveIsRescuedWithinSeconds", testDeclaredClientNeverSeenAliveIsRescued},
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

type declaredArgs struct{}

func (declaredArgs) Kind() string { return "queuetest.declared" }

// A client that declared its liveness in the registry (every client of
// this version binds it before its first claim) is trusted dead when its
// liveness is gone, though no rescuer ever saw it alive: a worker killed
// right after its start. One that did not declare it (an older version,
// or liveness off) and was never seen alive is left to its lease.
func testDeclaredClientNeverSeenAliveIsRescued(t *testing.T, b pgqueue.Backend) {
	_, keeps := b.(pgqueue.LivenessKeeper)
	reg, registers := b.(pgqueue.ClientRegistry)
	if !keeps || !registers {
		t.Skip("queuetest: the backend has no LivenessKeeper or no ClientRegistry; its clients' jobs are rescued by lease expiry alone")
	}
	ctx := context.Background()
	const ghostLease = 30 * time.Second
	held := map[string]int64{}
	for _, ghost := range []struct {
		id       string
		liveness bool
	}{{"queuetest-ghost-declared", true}, {"queuetest-ghost-undeclared", false}} {
		id := insert(t, b, job(declaredArgs{}.Kind()))[0]
		rows, err := b.Claim(ctx, pgqueue.ClaimParams{Queue: pgqueue.DefaultQueue, Kinds: []string{declaredArgs{}.Kind()}, Limit: 1, Lease: ghostLease, ClientID: ghost.id})
		require.NoError(t, err)
		require.Equal(t, []int64{id}, rowIDs(rows), "%s claims its job", ghost.id)
		held[ghost.id] = id
		require.NoError(t, reg.RegisterClient(ctx, pgqueue.ClientInfo{ID: ghost.id, Host: "h", PID: 1, Version: "v", Liveness: ghost.liveness}))
	}
	started := time.Now()
	reran := make(chan *pgqueue.Job[declaredArgs], 2)
	cfg := fastConfig(t)
	cfg.ID = "queuetest-watcher"
	c := newClient(t, b, cfg)
	register(t, c, func(ctx context.Context, j *pgqueue.Job[declaredArgs]) error {
		reran <- j
		return nil
	})
	start(t, c)
	select {
	case j := <-reran:
		took := time.Since(started)
		require.Equal(t, held["queuetest-ghost-declared"], j.ID,
			"the first job to run again is the declared client's, not the undeclared one's (still under its %v lease)", ghostLease)
		require.LessOrEqual(t, took, 6*time.Second, "a declared client's jobs run again within LivenessGrace and a few rescue intervals")
		require.Len(t, j.Errors, 1, "the rescue records one error on the job")
		require.Equal(t, "client_gone", j.Errors[0].Kind, "the rescue names the holder's death")
		t.Logf("the job of a client never seen alive ran again %v after the watcher started", took.Round(time.Millisecond))
	case <-time.After(10 * time.Second):
		t.Fatalf("the job of a client that declared its liveness but never bound it while watched did not run again within 10s (lease %v)", ghostLease)
	}
	select {
	case j := <-reran:
		t.Fatalf("job %d of the undeclared client, never seen alive, ran again before its lease ended", j.ID)
	case <-time.After(3 * time.Second):
	}
}
