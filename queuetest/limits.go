package queuetest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
)

func limitBehaviours() []behaviour {
	return []behaviour{
		{"GlobalMaxWorkersAcrossClients", testGlobalMaxWorkersAcrossClients},
		{"RateLimitAcrossClients", testRateLimitAcrossClients},
		{"BadLimitsRefused", testBadLimitsRefused},
	}
}

func requireLimiter(t *testing.T, b pgqueue.Backend) {
	t.Helper()
	if _, ok := b.(pgqueue.QueueLimiter); !ok {
		t.Skipf("%T does not implement pgqueue.QueueLimiter", b)
	}
}

// Three clients with 10 local slots each and a global limit of 2 never
// run more than 2 jobs at once, and finish every job.
func testGlobalMaxWorkersAcrossClients(t *testing.T, b pgqueue.Backend) {
	requireLimiter(t, b)
	const jobs = 24
	var running, peak, done atomic.Int64
	var clients []*pgqueue.Client
	for range 3 {
		cfg := fastConfig(t)
		cfg.Queues = map[string]pgqueue.QueueConfig{pgqueue.DefaultQueue: {MaxWorkers: 10, GlobalMaxWorkers: 2}}
		c := newClient(t, b, cfg)
		register(t, c, func(ctx context.Context, j *pgqueue.Job[basicArgs]) error {
			n := running.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(20 * time.Millisecond)
			running.Add(-1)
			done.Add(1)
			return nil
		})
		clients = append(clients, c)
	}
	for i := range jobs {
		enqueue(t, clients[0], basicArgs{N: i}, nil)
	}
	for _, c := range clients {
		start(t, c)
	}
	waitFor(t, "every job to finish under the global limit", func() bool { return done.Load() == jobs })
	require.LessOrEqual(t, peak.Load(), int64(2), "no more than GlobalMaxWorkers=2 jobs may run at once across 3 clients")
	require.Equal(t, int64(2), peak.Load(), "with 24 jobs and 30 local slots, the limit of 2 should be reached")
}

// A rate limit of 20/s with a burst of 2 spreads 12 job starts over at
// least (12-2)/20 = 0.5s, across clients.
func testRateLimitAcrossClients(t *testing.T, b pgqueue.Backend) {
	requireLimiter(t, b)
	const jobs = 12
	var (
		mu     sync.Mutex
		starts []time.Time
	)
	var clients []*pgqueue.Client
	for range 2 {
		cfg := fastConfig(t)
		cfg.Queues = map[string]pgqueue.QueueConfig{pgqueue.DefaultQueue: {RateLimit: &pgqueue.RateLimit{PerSecond: 20, Burst: 2}}}
		c := newClient(t, b, cfg)
		register(t, c, func(ctx context.Context, j *pgqueue.Job[basicArgs]) error {
			mu.Lock()
			starts = append(starts, time.Now())
			mu.Unlock()
			return nil
		})
		clients = append(clients, c)
	}
	for i := range jobs {
		enqueue(t, clients[0], basicArgs{N: i}, nil)
	}
	begin := time.Now()
	for _, c := range clients {
		start(t, c)
	}
	waitFor(t, "every job to start", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(starts) == jobs
	})
	took := time.Since(begin)
	require.GreaterOrEqual(t, took, 450*time.Millisecond, "12 starts at 20/s with a burst of 2 cannot take less than ~0.5s (took %v)", took)
}

func testBadLimitsRefused(t *testing.T, b pgqueue.Backend) {
	requireLimiter(t, b)
	for name, q := range map[string]pgqueue.QueueConfig{
		"negative global": {GlobalMaxWorkers: -1},
		"zero rate":       {RateLimit: &pgqueue.RateLimit{PerSecond: 0}},
		"negative rate":   {RateLimit: &pgqueue.RateLimit{PerSecond: -3}},
		"negative burst":  {RateLimit: &pgqueue.RateLimit{PerSecond: 1, Burst: -1}},
	} {
		cfg := fastConfig(t)
		cfg.Queues = map[string]pgqueue.QueueConfig{pgqueue.DefaultQueue: q}
		_, err := pgqueue.New(b, cfg)
		require.ErrorIs(t, err, pgqueue.ErrInvalidConfig, "%s: New must refuse it", name)
	}
}
