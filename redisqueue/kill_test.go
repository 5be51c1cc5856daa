package redisqueue_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/redistest"
	"github.com/pgqueue/pgqueue/redisqueue"
)

// Killing every Redis connection of a working client, several times while
// it runs, loses no job: commands fail and are retried, leases that were
// taken by a claim whose reply was lost expire and are rescued, and every
// job completes. A job runs more than once only after such a lease expiry,
// which its history then shows; nothing is dead-lettered.
//
// It runs with go-redis's own retries (the default) and without them, so
// that failed commands reach the engine's retry paths too.
func TestKilledConnectionsLoseNoJob(t *testing.T) {
	t.Parallel()
	for _, retries := range []int{0, -1} {
		name := "go-redis retries"
		if retries < 0 {
			name = "no go-redis retries"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			prefix := redistest.Prefix(t)
			opts := redistest.Options(t, prefix)
			opts.MaxRetries = retries
			rdb := redis.NewClient(opts)
			t.Cleanup(func() { _ = rdb.Close() })
			b, err := redisqueue.New(rdb, &redisqueue.Options{Prefix: prefix})
			require.NoError(t, err)
			testKilledConnections(t, b)
		})
	}
}

func testKilledConnections(t *testing.T, b *redisqueue.Backend) {
	const jobs = 400
	ctx := context.Background()
	adm := admin(t)

	logs := &countingHandler{}
	c, err := pgqueue.New(b, pgqueue.Config{
		ID:                    "kill-test",
		Queues:                map[string]pgqueue.QueueConfig{pgqueue.DefaultQueue: {MaxWorkers: 10}},
		LeaseDuration:         time.Second,
		HeartbeatInterval:     100 * time.Millisecond,
		RescueInterval:        100 * time.Millisecond,
		PollInterval:          50 * time.Millisecond,
		CompleteFlushInterval: 5 * time.Millisecond,
		Logger:                slog.New(logs),
	})
	require.NoError(t, err)
	var mu sync.Mutex
	runs := map[int64][]pgqueue.Job[pingArgs]{}
	require.NoError(t, pgqueue.Register(c, pgqueue.WorkFunc[pingArgs](func(ctx context.Context, j *pgqueue.Job[pingArgs]) error {
		time.Sleep(5 * time.Millisecond)
		mu.Lock()
		runs[j.ID] = append(runs[j.ID], *j)
		mu.Unlock()
		return nil
	})))
	reqs := make([]pgqueue.EnqueueRequest, jobs)
	for i := range reqs {
		reqs[i] = pgqueue.EnqueueRequest{Args: pingArgs{Seq: i}}
	}
	ids, err := c.EnqueueMany(ctx, reqs)
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx))

	keyCount := func() int {
		keys, err := redistest.Keys(ctx, adm, b.Prefix())
		require.NoError(t, err)
		n := 0
		for _, k := range keys {
			// What is left of a finished run: the ID counter, the queue
			// registry, the expiring retry guards of inserts and
			// completions, the running client's liveness key and
			// client registry entry, and the per-minute stats (they
			// expire after their retention).
			suffix := k[len(b.Prefix())+3:]
			if !slices.Contains([]string{"ids", "queues", "queue-index", "clients", "clients-seen"}, suffix) && !strings.HasPrefix(suffix, "insert:") && !strings.HasPrefix(suffix, "live:") && !strings.Contains(k, "}:done:") && !strings.Contains(k, "}:stats") {
				n++
			}
		}
		return n
	}
	allRan := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(runs) == jobs
	}

	// Kill the client's connections (pool and pub/sub) every few
	// milliseconds until every job has run at least once.
	killed, rounds := 0, 0
	for !allRan() && rounds < 500 {
		killed += killConnections(t, adm, b.Prefix())
		rounds++
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("killed %d connections in %d rounds; the client logged %d warnings or errors (failed claims, heartbeats, completions)", killed, rounds, logs.count.Load())
	require.GreaterOrEqual(t, rounds, 3, "the jobs must still have been running during several kills")
	require.Positive(t, killed, "the test must have killed some of the client's connections")

	deadline := time.Now().Add(10 * time.Second)
	for !(allRan() && keyCount() == 0) {
		if time.Now().After(deadline) {
			keys, _ := redistest.Keys(ctx, adm, b.Prefix())
			mu.Lock()
			ran := len(runs)
			mu.Unlock()
			t.Fatalf("timed out waiting for every job to complete: %d of %d ran; keys left %v; rescue lock TTL %v",
				ran, jobs, keys, adm.PTTL(ctx, "{"+b.Prefix()+"}:rescue").Val())
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.NoError(t, c.Stop(ctx))

	dead, err := b.ListDead(ctx, pgqueue.DeadFilter{})
	require.NoError(t, err)
	require.Empty(t, dead, "no job may be dead-lettered")
	mu.Lock()
	defer mu.Unlock()
	again := 0
	for _, id := range ids {
		require.NotEmpty(t, runs[id], "job %d was lost", id)
		for _, r := range runs[id][1:] {
			again++
			require.NotEmpty(t, r.Errors, "job %d ran again (attempt %d) without a recorded lease expiry", id, r.Attempt)
			require.Equal(t, "lease_expired", r.Errors[len(r.Errors)-1].Kind, "job %d ran again only after its lease expired", id)
		}
	}
	t.Logf("%d of %d jobs ran again after a lease expired", again, jobs)
}

// countingHandler counts the client's warnings and errors.
type countingHandler struct{ count atomic.Int64 }

func (h *countingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h *countingHandler) Handle(context.Context, slog.Record) error {
	h.count.Add(1)
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }
