package redisqueue_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/rediscluster"
	"github.com/pgqueue/pgqueue/internal/servicetest"
	"github.com/pgqueue/pgqueue/redisqueue"
)

// startSentinel starts a primary, a replica and three sentinels for the
// test (internal/rediscluster), or fails under CI=true and skips
// otherwise when redis-server is not installed.
func startSentinel(t *testing.T, ctx context.Context) *rediscluster.Sentinel {
	t.Helper()
	if _, err := rediscluster.ServerBinary(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v [CI=true: failing instead of skipping]", err)
		}
		servicetest.Skip(t, "no redis-server to start a Sentinel setup with: "+err.Error())
	}
	s, err := rediscluster.StartSentinel(ctx, t.TempDir())
	require.NoError(t, err, "start a primary, a replica and three sentinels")
	t.Cleanup(s.Stop)
	return s
}

// maxLostAckAge bounds how long before the primary's death an enqueue may
// have been acknowledged and still be lost: replication is asynchronous,
// so what the primary acknowledged but had not yet sent to the replica is
// gone. On loopback the lag is a few milliseconds; the bound is generous
// for a loaded CI machine.
const maxLostAckAge = 500 * time.Millisecond

// Killing the primary of a Sentinel-managed pair while a client enqueues
// and works jobs through redis.NewFailoverClient: the sentinels promote
// the replica, the same client (no restart) goes on enqueueing and
// working there, and every job whose enqueue was acknowledged runs except
// those acknowledged within the replication lag before the kill, which
// may be lost. The test reports what it saw.
func TestSentinelFailover(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	s := startSentinel(t, ctx)
	rdb := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName:    rediscluster.MasterName,
		SentinelAddrs: s.SentinelAddrs(),
		DialTimeout:   300 * time.Millisecond,
		ReadTimeout:   500 * time.Millisecond,
		WriteTimeout:  500 * time.Millisecond,
	})
	t.Cleanup(func() { _ = rdb.Close() })
	b, err := redisqueue.New(rdb, &redisqueue.Options{Prefix: "pgqt-failover"})
	require.NoError(t, err)

	var mu sync.Mutex
	ranSeq := map[int]int{}
	c, err := pgqueue.New(b, pgqueue.Config{
		ID:                    "failover-test",
		Queues:                map[string]pgqueue.QueueConfig{pgqueue.DefaultQueue: {MaxWorkers: 8}},
		LeaseDuration:         2 * time.Second,
		HeartbeatInterval:     300 * time.Millisecond,
		RescueInterval:        300 * time.Millisecond,
		PollInterval:          100 * time.Millisecond,
		CompleteFlushInterval: 5 * time.Millisecond,
	})
	require.NoError(t, err)
	require.NoError(t, pgqueue.Register(c, pgqueue.WorkFunc[pingArgs](func(ctx context.Context, j *pgqueue.Job[pingArgs]) error {
		mu.Lock()
		ranSeq[j.Args.Seq]++
		mu.Unlock()
		return nil
	})))
	require.NoError(t, c.Start(ctx))
	defer func() { _ = c.Stop(context.Background()) }()

	// One producer, a job every 2ms, each with a sequence number of its
	// own (IDs cannot tell jobs apart across a failover: see below).
	type ack struct {
		seq int
		id  int64
		at  time.Time
	}
	var (
		ackMu    sync.Mutex
		acks     []ack
		failures atomic.Int64
	)
	stopProducing := make(chan struct{})
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for seq := 0; ; seq++ {
			select {
			case <-stopProducing:
				return
			default:
			}
			id, err := c.Enqueue(ctx, pingArgs{Seq: seq}, nil)
			if err != nil {
				failures.Add(1)
				time.Sleep(20 * time.Millisecond)
				continue
			}
			ackMu.Lock()
			acks = append(acks, ack{seq: seq, id: id, at: time.Now()})
			ackMu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
	}()

	time.Sleep(time.Second)
	killedAt := time.Now()
	s.Primary.Kill()
	took, err := s.WaitPromoted(ctx, 20*time.Second)
	require.NoError(t, err, "the sentinels should promote the replica")
	promotedAt := time.Now()
	// Keep producing on the new primary for a while, then stop.
	time.Sleep(1500 * time.Millisecond)
	close(stopProducing)
	<-produced

	ackMu.Lock()
	all := append([]ack(nil), acks...)
	ackMu.Unlock()
	var after []ack // acknowledged by the new primary
	for _, a := range all {
		if a.at.After(promotedAt) {
			after = append(after, a)
		}
	}
	require.NotEmpty(t, after, "the client should enqueue on the promoted replica without a restart")

	// Wait until every job the new primary acknowledged has run, and the
	// queue is empty: whatever of the old primary's jobs survived has run
	// by then too.
	q := "{pgqt-failover:" + pgqueue.DefaultQueue + "}"
	pending := func() int64 {
		var n int64
		for _, k := range []string{q + ":avail:" + (pingArgs{}).Kind(), q + ":sched", q + ":running"} {
			v, err := rdb.ZCard(ctx, k).Result()
			if err != nil {
				return -1
			}
			n += v
		}
		return n
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		missingAfter := 0
		for _, a := range after {
			if ranSeq[a.seq] == 0 {
				missingAfter++
			}
		}
		mu.Unlock()
		left := pending()
		if missingAfter == 0 && left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("20s after the failover, %d of the %d jobs acknowledged by the new primary have not run and %d jobs are still queued", missingAfter, len(after), left)
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(t, c.Stop(ctx))

	// What was lost: acknowledged, never run.
	mu.Lock()
	var lost []ack
	ranTwice := 0
	for _, a := range all {
		if ranSeq[a.seq] == 0 {
			lost = append(lost, a)
		}
		if ranSeq[a.seq] > 1 {
			ranTwice++
		}
	}
	mu.Unlock()
	var oldest time.Duration
	for _, a := range lost {
		age := killedAt.Sub(a.at)
		require.True(t, a.at.Before(killedAt), "job seq %d (ID %d) was acknowledged %v after the kill, by the new primary, and never ran", a.seq, a.id, -age)
		require.LessOrEqual(t, age, maxLostAckAge, "job seq %d (ID %d) was acknowledged %v before the primary died, longer ago than any replication lag here, and never ran", a.seq, a.id, age)
		oldest = max(oldest, age)
	}
	// IDs handed out again: the promoted replica's ID counter is behind
	// the dead primary's by the writes it never received.
	seen := map[int64]int{}
	reused := 0
	for _, a := range all {
		if seen[a.id]++; seen[a.id] == 2 {
			reused++
		}
	}
	sort.Slice(lost, func(i, j int) bool { return lost[i].seq < lost[j].seq })
	t.Logf("failover: primary killed; replica promoted %v later (sentinel down-after %v); %d enqueues acknowledged (%d by the new primary), %d failed during the outage and were not acknowledged",
		took.Round(time.Millisecond), s.DownAfter, len(all), len(after), failures.Load())
	lostLine := "none lost"
	if len(lost) > 0 {
		lostLine = fmt.Sprintf("%d lost, all acknowledged within %v before the kill", len(lost), oldest.Round(time.Microsecond))
	}
	t.Logf("failover: acknowledged jobs: %s (allowed: within %v); every other acknowledged job ran; %d jobs ran more than once; %d job IDs were handed out twice (the new primary's counter was behind)",
		lostLine, maxLostAckAge, ranTwice, reused)
}
