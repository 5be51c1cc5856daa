package redisqueue_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/rediscluster"
	"github.com/pgqueue/pgqueue/internal/redistest"
	"github.com/pgqueue/pgqueue/redisqueue"
)

// redirects counts the cluster redirections and retry replies the nodes
// sent a cluster client, which go-redis follows without telling its
// caller: the proof that a test met them.
type redirects struct{ moved, ask, tryAgain, clusterDown atomic.Int64 }

func (r *redirects) String() string {
	return fmt.Sprintf("%d MOVED, %d ASK, %d TRYAGAIN, %d CLUSTERDOWN", r.moved.Load(), r.ask.Load(), r.tryAgain.Load(), r.clusterDown.Load())
}

func (r *redirects) note(err error) {
	if err == nil {
		return
	}
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "MOVED "):
		r.moved.Add(1)
	case strings.HasPrefix(msg, "ASK "):
		r.ask.Add(1)
	case strings.HasPrefix(msg, "TRYAGAIN"):
		r.tryAgain.Add(1)
	case strings.HasPrefix(msg, "CLUSTERDOWN"):
		r.clusterDown.Add(1)
	}
}

// DialHook implements redis.Hook.
func (r *redirects) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook implements redis.Hook: it sees each node's own reply.
func (r *redirects) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		r.note(cmd.Err())
		return err
	}
}

// ProcessPipelineHook implements redis.Hook.
func (r *redirects) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, c := range cmds {
			r.note(c.Err())
		}
		return err
	}
}

// countingClusterBackend is a cluster backend under a fresh prefix whose
// node clients count the redirections they receive.
func countingClusterBackend(t *testing.T) (*redisqueue.Backend, *redirects) {
	t.Helper()
	prefix := redistest.ClusterPrefix(t)
	r := &redirects{}
	c := redistest.ClusterClient(t, prefix, &redis.ClusterOptions{
		NewClient: func(o *redis.Options) *redis.Client {
			n := redis.NewClient(o)
			n.AddHook(r)
			return n
		},
	})
	b, err := redisqueue.New(c, &redisqueue.Options{Prefix: prefix})
	require.NoError(t, err)
	return b, r
}

// queueSlot is the cluster slot of every key of queue (its hash tag).
func queueSlot(b *redisqueue.Backend, queue string) int {
	return rediscluster.KeySlot("{" + b.Prefix() + ":" + queue + "}")
}

// The queues of one prefix spread over every primary: each queue's keys
// live in its own slot, so a cluster shares the load of many queues.
func TestClusterQueuesSpreadOverPrimaries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	addrs := redistest.ClusterAddrs(t)
	b := redistest.ClusterBackend(t)
	var jobs []pgqueue.InsertParams
	for i := range 24 {
		jobs = append(jobs, pgqueue.InsertParams{Kind: "k", Queue: fmt.Sprintf("q%d", i), Priority: 5, Args: []byte(`{}`), MaxAttempts: 1})
	}
	_, err := b.Insert(ctx, jobs)
	require.NoError(t, err)

	// Where the queues' slots are, by the cluster's own map.
	queuesOn := map[string][]string{}
	for _, j := range jobs {
		owner, err := rediscluster.SlotOwner(ctx, addrs[0], queueSlot(b, j.Queue))
		require.NoError(t, err)
		queuesOn[owner] = append(queuesOn[owner], j.Queue)
	}
	// Where the keys are, by asking each primary.
	keysOn := map[string]int{}
	c := b.Client().(*redis.ClusterClient)
	var mu sync.Mutex
	require.NoError(t, c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		keys, err := redistest.Keys(ctx, node, b.Prefix())
		mu.Lock()
		keysOn[node.Options().Addr] = len(keys)
		mu.Unlock()
		return err
	}))
	t.Logf("24 queues over %d primaries: queues per node %v; keys per node %v", len(addrs), countEach(queuesOn), keysOn)
	require.Len(t, queuesOn, len(addrs), "24 queues should land on every one of the %d primaries (queues by node: %v)", len(addrs), queuesOn)
	for _, a := range addrs {
		require.Positive(t, keysOn[a], "primary %s should hold keys of the queues whose slots it serves (%v)", a, queuesOn[a])
	}
	// And each queue's job is claimable wherever it lives.
	for _, j := range jobs {
		rows, err := b.Claim(ctx, pgqueue.ClaimParams{Queue: j.Queue, Kinds: []string{"k"}, Limit: 10, Lease: time.Minute})
		require.NoError(t, err)
		require.Len(t, rows, 1, "queue %s should give back its one job", j.Queue)
	}
}

func countEach(m map[string][]string) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		out[k] = len(v)
	}
	return out
}

// Moving a busy queue's slot from node to node (the way redis-cli
// --cluster reshard does: SETSLOT IMPORTING/MIGRATING, MIGRATE key batch
// by key batch, SETSLOT NODE) while a client enqueues and works it loses
// no job and dead-letters none: the cluster client follows the MOVED and
// ASK redirections and retries TRYAGAIN, and every job whose enqueue was
// acknowledged runs.
func TestClusterSlotMigrationLosesNothing(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	addrs := redistest.ClusterAddrs(t)
	b, redir := countingClusterBackend(t)
	const queue, other = "moving", "staying"

	var mu sync.Mutex
	runs := map[int64]int{}
	c, err := pgqueue.New(b, pgqueue.Config{
		ID:                    "migration-test",
		Queues:                map[string]pgqueue.QueueConfig{queue: {MaxWorkers: 8}, other: {MaxWorkers: 4}},
		LeaseDuration:         3 * time.Second,
		HeartbeatInterval:     500 * time.Millisecond,
		RescueInterval:        500 * time.Millisecond,
		PollInterval:          100 * time.Millisecond,
		CompleteFlushInterval: 5 * time.Millisecond,
	})
	require.NoError(t, err)
	require.NoError(t, pgqueue.Register(c, pgqueue.WorkFunc[pingArgs](func(ctx context.Context, j *pgqueue.Job[pingArgs]) error {
		time.Sleep(time.Millisecond)
		mu.Lock()
		runs[j.ID]++
		mu.Unlock()
		return nil
	})))

	// A backlog that keeps the slot full of keys while it moves: jobs due
	// now and jobs due in two seconds (in the scheduled set until then).
	var acked []int64
	var reqs []pgqueue.EnqueueRequest
	for i := range 600 {
		o := &pgqueue.EnqueueOptions{Queue: queue}
		if i%2 == 1 {
			o.Delay = 2 * time.Second
		}
		reqs = append(reqs, pgqueue.EnqueueRequest{Args: pingArgs{Seq: i}, Options: o})
	}
	ids, err := c.EnqueueMany(ctx, reqs)
	require.NoError(t, err)
	acked = append(acked, ids...)
	require.NoError(t, c.Start(ctx))
	defer func() { _ = c.Stop(context.Background()) }()

	// Producers: one job at a time into each queue, until the moves end.
	moving := make(chan struct{})
	var prodWG sync.WaitGroup
	var ackMu sync.Mutex
	var enqueueErrs atomic.Int64
	var firstErr atomic.Value
	for _, q := range []string{queue, queue, other} {
		prodWG.Add(1)
		go func() {
			defer prodWG.Done()
			for seq := 0; ; seq++ {
				select {
				case <-moving:
					return
				default:
				}
				id, err := c.Enqueue(ctx, pingArgs{Seq: seq}, &pgqueue.EnqueueOptions{Queue: q})
				if err != nil {
					enqueueErrs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				ackMu.Lock()
				acked = append(acked, id)
				ackMu.Unlock()
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}

	// Move the queue's slot over every other node and back home.
	slot := queueSlot(b, queue)
	home, err := rediscluster.SlotOwner(ctx, addrs[0], slot)
	require.NoError(t, err)
	var path []string
	for _, a := range addrs {
		if a != home {
			path = append(path, a)
		}
	}
	path = append(path, home)
	start := time.Now()
	totalKeys := 0
	for _, to := range path {
		n, err := rediscluster.MoveSlot(ctx, addrs, slot, to, rediscluster.MoveOptions{Batch: 10, Pause: 5 * time.Millisecond})
		require.NoError(t, err, "moving slot %d of queue %q to %s", slot, queue, to)
		totalKeys += n
	}
	close(moving)
	prodWG.Wait()
	t.Logf("moved slot %d (queue %q) %s -> %s in %v, migrating %d keys in all; the client met %s; %d enqueues failed (first: %v)",
		slot, queue, home, strings.Join(path, " -> "), time.Since(start).Round(time.Millisecond), totalKeys, redir, enqueueErrs.Load(), firstErr.Load())

	ackMu.Lock()
	want := append([]int64(nil), acked...)
	ackMu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		missing := 0
		for _, id := range want {
			if runs[id] == 0 {
				missing++
			}
		}
		mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			dead, _ := b.ListDead(ctx, pgqueue.DeadFilter{Limit: 5})
			t.Fatalf("%d of %d acknowledged jobs never ran within 30s of the last move; dead letters (first 5): %v", missing, len(want), deadSummary(dead))
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(t, c.Stop(ctx))
	dead, err := b.ListDead(ctx, pgqueue.DeadFilter{})
	require.NoError(t, err)
	require.Empty(t, deadSummary(dead), "no job may be dead-lettered by a slot migration")
	again := 0
	mu.Lock()
	for _, n := range runs {
		again += n - 1
	}
	mu.Unlock()
	t.Logf("all %d acknowledged jobs ran; %d ran more than once (after a lease expired)", len(want), again)
	require.Positive(t, totalKeys, "the moves must have migrated keys, or nothing was tested")
	require.Zero(t, enqueueErrs.Load(), "an Enqueue during a reshard should be resent until the slot settles, not fail (first error: %v)", firstErr.Load())
	require.Positive(t, redir.moved.Load()+redir.ask.Load(), "the client should have met MOVED or ASK redirections during the moves (met %s)", redir)
}

func deadSummary(dead []*pgqueue.DeadJob) []string {
	var out []string
	for _, d := range dead {
		last := ""
		if len(d.Errors) > 0 {
			last = d.Errors[len(d.Errors)-1].Error
		}
		out = append(out, fmt.Sprintf("job %d (%s): %s", d.ID, d.Queue, last))
	}
	return out
}

// Operations that span queues (dead-letter listing and counting by
// filter, requeue and purge by ID, cancel by ID, promotion and rescue)
// work when the queues live on different primaries.
func TestClusterCrossQueueOperations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	addrs := redistest.ClusterAddrs(t)
	b := redistest.ClusterBackend(t)

	// Six queues, on at least two distinct primaries.
	queues := []string{"a", "b", "c", "d", "e", "f"}
	owners := map[string]bool{}
	for _, q := range queues {
		o, err := rediscluster.SlotOwner(ctx, addrs[0], queueSlot(b, q))
		require.NoError(t, err)
		owners[o] = true
	}
	require.GreaterOrEqual(t, len(owners), 2, "the test's queues must live on several primaries")

	// In each queue: one job to dead-letter, one to cancel, one due later.
	var jobs []pgqueue.InsertParams
	for _, q := range queues {
		jobs = append(jobs,
			pgqueue.InsertParams{Kind: "doomed", Queue: q, Priority: 5, Args: []byte(`{}`), MaxAttempts: 1},
			pgqueue.InsertParams{Kind: "cancel-me", Queue: q, Priority: 5, Args: []byte(`{}`), MaxAttempts: 1},
			pgqueue.InsertParams{Kind: "later", Queue: q, Priority: 5, Args: []byte(`{}`), MaxAttempts: 1, RunAt: time.Now().Add(300 * time.Millisecond)},
		)
	}
	ids, err := b.Insert(ctx, jobs)
	require.NoError(t, err)
	var doomed []int64
	for i, q := range queues {
		rows, err := b.Claim(ctx, pgqueue.ClaimParams{Queue: q, Kinds: []string{"doomed"}, Limit: 1, Lease: time.Minute})
		require.NoError(t, err)
		require.Len(t, rows, 1)
		require.NoError(t, b.DeadLetter(ctx, rows[0].Ref(), pgqueue.AttemptError{At: time.Now(), Error: "boom in " + q, Kind: "error"}))
		doomed = append(doomed, ids[3*i])
	}

	all, err := b.ListDead(ctx, pgqueue.DeadFilter{})
	require.NoError(t, err)
	require.Len(t, all, len(queues), "ListDead with no filter lists the dead letters of every queue, on every node")
	some, err := b.ListDead(ctx, pgqueue.DeadFilter{Kind: "doomed", Limit: 4})
	require.NoError(t, err)
	require.Len(t, some, 4, "ListDead's limit applies across queues")
	one, err := b.ListDead(ctx, pgqueue.DeadFilter{Queue: "c"})
	require.NoError(t, err)
	require.Len(t, one, 1, "ListDead by queue")
	require.Equal(t, "c", one[0].Queue)

	// Cancel by ID, wherever the job lives.
	for i := range queues {
		require.NoError(t, b.CancelJob(ctx, ids[3*i+1]), "cancel job %d of queue %s", ids[3*i+1], queues[i])
	}
	cancelled, err := b.ListDead(ctx, pgqueue.DeadFilter{Kind: "cancel-me"})
	require.NoError(t, err)
	require.Len(t, cancelled, len(queues), "each cancelled job is a dead letter of its own queue")

	// Requeue three dead letters by ID, across queues, then purge the rest.
	n, err := b.RequeueDead(ctx, doomed[:3])
	require.NoError(t, err)
	require.Equal(t, 3, n, "RequeueDead by IDs on several nodes")
	for i, q := range queues[:3] {
		rows, err := b.Claim(ctx, pgqueue.ClaimParams{Queue: q, Kinds: []string{"doomed"}, Limit: 10, Lease: time.Minute})
		require.NoError(t, err)
		require.Len(t, rows, 1, "the requeued job is claimable again in queue %s", q)
		require.Equal(t, doomed[i], rows[0].ID)
	}
	purged, err := b.PurgeDead(ctx, pgqueue.DeadFilter{})
	require.NoError(t, err)
	require.Equal(t, 3+len(queues), purged, "PurgeDead with no filter purges the dead letters of every queue")

	// Promotion of due jobs spans the queues too. Each queue's job falls
	// due at its own insert time plus 300ms, so one pass may promote some
	// queues' and the next the others': a job claimed in an earlier pass
	// counts (it is running now, not claimable again).
	claimed := map[string]bool{}
	require.Eventually(t, func() bool {
		_, err := b.PromoteDue(ctx)
		require.NoError(t, err)
		for _, q := range queues {
			rows, err := b.Claim(ctx, pgqueue.ClaimParams{Queue: q, Kinds: []string{"later"}, Limit: 10, Lease: 50 * time.Millisecond})
			require.NoError(t, err)
			require.LessOrEqual(t, len(rows), 1, "queue %s holds one job due later", q)
			if len(rows) == 1 {
				require.False(t, claimed[q], "queue %s: its one due job was claimed twice while its lease held", q)
				claimed[q] = true
			}
		}
		return len(claimed) == len(queues)
	}, 5*time.Second, 50*time.Millisecond, "PromoteDue makes the due jobs of every queue claimable")

	// And so does rescue: the leases above were 50ms.
	time.Sleep(100 * time.Millisecond)
	res, err := b.Rescue(ctx, pgqueue.AttemptError{At: time.Now(), Error: "lease expired", Kind: "lease_expired"})
	require.NoError(t, err)
	t.Logf("queues on %d primaries; rescue: %+v", len(owners), res)
	dead, err := b.ListDead(ctx, pgqueue.DeadFilter{Kind: "later"})
	require.NoError(t, err)
	require.Len(t, dead, len(queues), "rescue dead-letters the expired, out-of-attempts jobs of every queue")
}
