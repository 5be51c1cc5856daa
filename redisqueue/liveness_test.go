package redisqueue_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/redistest"
	"github.com/pgqueue/pgqueue/redisqueue"
)

// livenessBackend returns a backend on a Redis client of its own, under
// prefix, with its connections named after the prefix.
func livenessBackend(t *testing.T, prefix string) (*redisqueue.Backend, *redis.Client) {
	t.Helper()
	rdb := redis.NewClient(redistest.Options(t, prefix))
	t.Cleanup(func() { _ = rdb.Close() })
	b, err := redisqueue.New(rdb, &redisqueue.Options{Prefix: prefix})
	require.NoError(t, err)
	return b, rdb
}

// liveKey is a client's liveness key, as the package documents it.
func liveKey(b *redisqueue.Backend, client string) string {
	return "{" + b.Prefix() + "}:live:" + client
}

// pingRun is what the worker saw of one run of a pingArgs job.
type pingRun struct {
	id      int64
	attempt int
	errors  []pgqueue.AttemptError
	at      time.Time
}

// A client that dies without Stop (its process gone: its Redis connection
// closed, so its liveness key is never refreshed nor deleted and expires;
// or its KeepAlive ended, which deletes the key) has its running job run
// again by another client with default settings (a 30s lease) within
// seconds, recorded as "client_gone".
func TestRedisDeadClientsJobRunsAgainWithinSeconds(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// within bounds the time from the death to the rerun: the key's
		// remaining life (up to LivenessTTL), LivenessGrace (2s) and up
		// to two RescueIntervals (1s each) of observation.
		within time.Duration
		die    func(cancelKeepAlive context.CancelFunc, rdb *redis.Client)
	}{
		{"process died, its key expired", redisqueue.LivenessTTL + 4*time.Second, func(_ context.CancelFunc, rdb *redis.Client) { _ = rdb.Close() }},
		{"KeepAlive ended, its key deleted", 4 * time.Second, func(cancel context.CancelFunc, _ *redis.Client) { cancel() }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			prefix := redistest.Prefix(t)
			b, _ := livenessBackend(t, prefix)
			doomed, doomedRDB := livenessBackend(t, prefix)
			adm := admin(t)

			id := insertOne(t, b, pingArgs{}.Kind(), time.Now())
			kctx, cancelKeepAlive := context.WithCancel(ctx)
			t.Cleanup(cancelKeepAlive)
			go func() { _ = doomed.KeepAlive(kctx, pgqueue.LivenessParams{ClientID: "doomed"}) }()
			waitUntil(t, "the doomed client's liveness key", func() bool { return adm.Exists(ctx, liveKey(b, "doomed")).Val() == 1 })
			rows, err := doomed.Claim(ctx, pgqueue.ClaimParams{Queue: pgqueue.DefaultQueue, Kinds: []string{pingArgs{}.Kind()}, Limit: 1, Lease: 30 * time.Second, ClientID: "doomed"})
			require.NoError(t, err)
			require.Len(t, rows, 1, "the doomed client claims the job")

			c, err := pgqueue.New(b, pgqueue.Config{ID: "rescuer", Queues: map[string]pgqueue.QueueConfig{pgqueue.DefaultQueue: {MaxWorkers: 1}}})
			require.NoError(t, err)
			runs := make(chan pingRun, 4)
			require.NoError(t, pgqueue.Register(c, pgqueue.WorkFunc[pingArgs](func(ctx context.Context, j *pgqueue.Job[pingArgs]) error {
				runs <- pingRun{id: j.ID, attempt: j.Attempt, errors: j.Errors, at: time.Now()}
				return nil
			})))
			require.NoError(t, c.Start(ctx))
			t.Cleanup(func() { _ = c.Stop(ctx) })
			// Let the rescuer's watch see the doomed client alive (it
			// observes every RescueInterval, 1s): a client never seen
			// alive is left to its lease.
			time.Sleep(2500 * time.Millisecond)
			died := time.Now()
			tc.die(cancelKeepAlive, doomedRDB)

			select {
			case r := <-runs:
				took := r.at.Sub(died)
				t.Logf("the dead client's job ran again %v after its death (lease 30s)", took.Round(10*time.Millisecond))
				require.Equal(t, id, r.id)
				require.Equal(t, 2, r.attempt, "the dead client's run was attempt 1")
				require.Len(t, r.errors, 1, "the lost attempt is recorded")
				require.Equal(t, "client_gone", r.errors[0].Kind, "the rescue is recorded as the client being gone, not as a lease expiry")
				require.Less(t, took, tc.within, "a dead client's job must run again within seconds, long before its 30s lease ends")
			case <-time.After(20 * time.Second):
				t.Fatal("the dead client's job did not run again within 20s (its lease is 30s)")
			}
		})
	}
}

// A live client whose liveness key is deleted behind its back, and whose
// Redis stalls (CLIENT PAUSE) for less than the grace period, never has a
// job taken from it: each of its long jobs runs once, and no liveness
// rescue happens. Not parallel: CLIENT PAUSE stalls every client of the
// server, and the package's parallel tests start only after this one.
func TestRedisLiveClientWhoseLivenessKeyIsDeletedNeverRerunsItsJobs(t *testing.T) {
	ctx := context.Background()
	prefix := redistest.Prefix(t)
	adm := admin(t)
	const jobs = 4
	const jobLength = 9 * time.Second

	var mu sync.Mutex
	ran := map[int64][]pingRun{}
	var clients []*pgqueue.Client
	for _, id := range []string{"steady", "watcher"} {
		b, _ := livenessBackend(t, prefix)
		c, err := pgqueue.New(b, pgqueue.Config{ID: id, Queues: map[string]pgqueue.QueueConfig{pgqueue.DefaultQueue: {MaxWorkers: jobs}}})
		require.NoError(t, err)
		require.NoError(t, pgqueue.Register(c, pgqueue.WorkFunc[pingArgs](func(ctx context.Context, j *pgqueue.Job[pingArgs]) error {
			mu.Lock()
			ran[j.ID] = append(ran[j.ID], pingRun{id: j.ID, attempt: j.Attempt, errors: j.Errors, at: time.Now()})
			mu.Unlock()
			select {
			case <-time.After(jobLength):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})))
		clients = append(clients, c)
	}
	steady, watcher := clients[0], clients[1]
	b, _ := livenessBackend(t, prefix)
	require.NoError(t, steady.Start(ctx))
	t.Cleanup(func() { _ = steady.Stop(ctx) })
	for i := 0; i < jobs; i++ {
		_, err := steady.Enqueue(ctx, pingArgs{Seq: i}, nil)
		require.NoError(t, err)
	}
	waitUntil(t, "the steady client to run every job", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(ran) == jobs
	})
	require.NoError(t, watcher.Start(ctx))
	t.Cleanup(func() { _ = watcher.Stop(ctx) })

	key := liveKey(b, "steady")
	start := time.Now()
	disturbances := []struct {
		at   time.Duration
		what string
		do   func()
	}{
		{1 * time.Second, "delete the liveness key", func() { adm.Del(ctx, key) }},
		{2500 * time.Millisecond, "CLIENT PAUSE 1500 ALL", func() { require.NoError(t, adm.Do(ctx, "CLIENT", "PAUSE", "1500", "ALL").Err()) }},
		{4500 * time.Millisecond, "delete the liveness key", func() { adm.Del(ctx, key) }},
		{5 * time.Second, "CLIENT PAUSE 1900 ALL, then delete the key", func() {
			require.NoError(t, adm.Do(ctx, "CLIENT", "PAUSE", "1900", "ALL").Err())
			adm.Del(ctx, key)
		}},
	}
	for _, d := range disturbances {
		time.Sleep(time.Until(start.Add(d.at)))
		d.do()
		t.Logf("%v: %s", time.Since(start).Round(10*time.Millisecond), d.what)
	}
	waitUntil(t, "the steady client's liveness key to be back", func() bool { return adm.Exists(ctx, key).Val() == 1 })
	// Past the jobs' end, with time for any wrong rescue to show.
	time.Sleep(time.Until(start.Add(jobLength + 2*time.Second)))

	mu.Lock()
	defer mu.Unlock()
	for id, runs := range ran {
		require.Len(t, runs, 1, "job %d of a live client ran more than once: %+v", id, runs)
		require.Empty(t, runs[0].errors, "job %d ran with a recorded lost attempt", id)
	}
}

// RescueGone moves only the jobs of the clients it is given whose
// liveness key is absent, and only those claimed more than minAge ago;
// the jobs of live clients stay running under their tokens.
func TestRedisRescueGoneMovesOnlyJobsOfGoneClients(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := redistest.Backend(t)
	adm := admin(t)
	claim := func(client string) *pgqueue.JobRow {
		insertOne(t, b, pingArgs{}.Kind(), time.Now())
		rows, err := b.Claim(ctx, pgqueue.ClaimParams{Queue: pgqueue.DefaultQueue, Kinds: []string{pingArgs{}.Kind()}, Limit: 1, Lease: time.Minute, ClientID: client})
		require.NoError(t, err)
		require.Len(t, rows, 1)
		return rows[0]
	}
	gone, alive := claim("gone"), claim("alive")
	kctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _ = b.KeepAlive(kctx, pgqueue.LivenessParams{ClientID: "alive"}) }()
	waitUntil(t, "the live client's key", func() bool { return adm.Exists(ctx, liveKey(b, "alive")).Val() == 1 })

	holders, err := b.Holders(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]bool{"gone": false, "alive": true}, holders, "Holders reports every holder of running jobs and whether its key exists")

	info := pgqueue.AttemptError{At: time.Now().UTC(), Kind: "client_gone", Error: "gone"}
	res, err := b.RescueGone(ctx, []string{"gone", "alive"}, time.Hour, info)
	require.NoError(t, err)
	require.Zero(t, res.Requeued+res.DeadLettered, "jobs claimed less than minAge ago stay running")

	time.Sleep(20 * time.Millisecond)
	res, err = b.RescueGone(ctx, []string{"gone", "alive"}, 10*time.Millisecond, info)
	require.NoError(t, err)
	require.Equal(t, 1, res.Requeued, "only the gone client's job is requeued")
	require.Equal(t, []string{pgqueue.DefaultQueue}, res.Queues)

	lost, err := b.Heartbeat(ctx, []pgqueue.JobRef{{ID: gone.ID, Token: gone.Token}, {ID: alive.ID, Token: alive.Token}}, time.Minute)
	require.NoError(t, err)
	require.Equal(t, []pgqueue.JobRef{{ID: gone.ID, Token: gone.Token}}, lost, "the gone client's claim is fenced off; the live client's is kept")

	// KeepAlive deletes the key when it ends.
	cancel()
	waitUntil(t, "the key to be deleted at the end of KeepAlive", func() bool { return adm.Exists(ctx, liveKey(b, "alive")).Val() == 0 })
}

// On a Redis Cluster the liveness keys live in the prefix's slot and the
// jobs in their queues' slots: Holders and RescueGone must still tell the
// gone client from the live one across nodes.
func TestClusterRescueGoneMovesOnlyJobsOfGoneClients(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := redistest.ClusterBackend(t)
	claim := func(client, queue string) *pgqueue.JobRow {
		_, err := b.Insert(ctx, []pgqueue.InsertParams{{Kind: pingArgs{}.Kind(), Queue: queue, Priority: 5, Args: []byte(`{}`), MaxAttempts: 3}})
		require.NoError(t, err)
		rows, err := b.Claim(ctx, pgqueue.ClaimParams{Queue: queue, Kinds: []string{pingArgs{}.Kind()}, Limit: 1, Lease: time.Minute, ClientID: client})
		require.NoError(t, err)
		require.Len(t, rows, 1)
		return rows[0]
	}
	// Queues spread over the nodes, each holding one job of each client.
	var gone, alive []*pgqueue.JobRow
	for _, q := range []string{"qa", "qb", "qc", "qd"} {
		gone = append(gone, claim("gone", q))
		alive = append(alive, claim("alive", q))
	}
	kctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _ = b.KeepAlive(kctx, pgqueue.LivenessParams{ClientID: "alive"}) }()
	waitUntil(t, "the live client's liveness", func() bool {
		h, err := b.Holders(ctx)
		return err == nil && h["alive"]
	})
	holders, err := b.Holders(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]bool{"gone": false, "alive": true}, holders)

	time.Sleep(20 * time.Millisecond)
	res, err := b.RescueGone(ctx, []string{"gone", "alive"}, 10*time.Millisecond, pgqueue.AttemptError{At: time.Now().UTC(), Kind: "client_gone", Error: "gone"})
	require.NoError(t, err)
	require.Equal(t, len(gone), res.Requeued, "every queue's job of the gone client is requeued, on whichever node it lives")
	var refs []pgqueue.JobRef
	for _, r := range append(gone, alive...) {
		refs = append(refs, r.Ref())
	}
	lost, err := b.Heartbeat(ctx, refs, time.Minute)
	require.NoError(t, err)
	require.Len(t, lost, len(gone), "only the gone client's claims are fenced off")
	for _, r := range alive {
		require.NotContains(t, lost, r.Ref(), "the live client's job %d must stay held", r.ID)
	}
}
