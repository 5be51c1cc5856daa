package queuetest

// The Sequences group: jobs sharing EnqueueOptions.Sequence run one at a
// time, in enqueue order, across clients; a dead job stops its sequence
// unless it had SequenceContinue.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
)

func sequenceBehaviours() []behaviour {
	return []behaviour{
		{"OneAtATimeInOrderAcrossThreeClients", testSequenceOneAtATime},
		{"DeadJobStopsOrContinues", testSequenceFailure},
	}
}

// requireSequences skips on a backend without sequences, after checking
// that it refuses a sequenced job with ErrUnsupported.
func requireSequences(t *testing.T, b pgqueue.Backend) {
	t.Helper()
	if _, ok := b.(pgqueue.SequenceInserter); ok {
		return
	}
	c := newClient(t, b, fastConfig(t))
	_, err := c.Enqueue(context.Background(), basicArgs{N: 1}, &pgqueue.EnqueueOptions{Sequence: "k"})
	require.ErrorIs(t, err, pgqueue.ErrUnsupported, "a backend without SequenceInserter refuses sequenced jobs with ErrUnsupported")
	t.Skipf("%T does not implement pgqueue.SequenceInserter", b)
}

// seqArgs is a sequenced job: its key and its place in the sequence.
type seqArgs struct {
	Key  string `json:"key"`
	N    int    `json:"n"`
	Fail bool   `json:"fail,omitempty"`
}

func (seqArgs) Kind() string { return "queuetest.seq" }

// Three clients with 4 workers each run two sequences of 15 jobs each,
// interleaved: within a key no two jobs ever run at once and they run in
// enqueue order, while the two keys run side by side.
func testSequenceOneAtATime(t *testing.T, b pgqueue.Backend) {
	requireSequences(t, b)
	ctx := context.Background()
	const perKey = 15
	var (
		mu      sync.Mutex
		running = map[string]int{}
		order   = map[string][]int{}
		overlap atomic.Int32
		done    = make(chan struct{}, 2*perKey)
	)
	work := func(ctx context.Context, job *pgqueue.Job[seqArgs]) error {
		mu.Lock()
		running[job.Args.Key]++
		if running[job.Args.Key] > 1 {
			overlap.Add(1)
		}
		order[job.Args.Key] = append(order[job.Args.Key], job.Args.N)
		mu.Unlock()
		time.Sleep(2 * time.Millisecond)
		mu.Lock()
		running[job.Args.Key]--
		mu.Unlock()
		done <- struct{}{}
		return nil
	}
	var producer *pgqueue.Client
	for i := range 3 {
		cfg := fastConfig(t)
		cfg.ID = fmt.Sprintf("%s-%d", cfg.ID, i)
		cfg.Queues = map[string]pgqueue.QueueConfig{pgqueue.DefaultQueue: {MaxWorkers: 4}}
		c := newClient(t, b, cfg)
		register(t, c, pgqueue.WorkFunc[seqArgs](work))
		start(t, c)
		producer = c
	}
	for n := range perKey {
		for _, key := range []string{"account:1", "account:2"} {
			_, err := producer.Enqueue(ctx, seqArgs{Key: key, N: n}, &pgqueue.EnqueueOptions{Sequence: key})
			require.NoError(t, err)
		}
	}
	for range 2 * perKey {
		recv(t, done, "a sequenced job to run")
	}
	require.Zero(t, overlap.Load(), "two jobs of one sequence never run at once")
	mu.Lock()
	defer mu.Unlock()
	for _, key := range []string{"account:1", "account:2"} {
		want := make([]int, perKey)
		for i := range want {
			want[i] = i
		}
		require.Equal(t, want, order[key], "the jobs of %s run in enqueue order", key)
	}
}

// A dead job stops its sequence (the jobs after it are cancelled), unless
// it was enqueued with SequenceContinue; a sequenced job cannot also be
// unique.
func testSequenceFailure(t *testing.T, b pgqueue.Backend) {
	requireSequences(t, b)
	ctx := context.Background()
	var mu sync.Mutex
	var ran []string
	c := newClient(t, b, fastConfig(t))
	register(t, c, pgqueue.WorkFunc[seqArgs](func(ctx context.Context, job *pgqueue.Job[seqArgs]) error {
		mu.Lock()
		ran = append(ran, fmt.Sprintf("%s/%d", job.Args.Key, job.Args.N))
		mu.Unlock()
		if job.Args.Fail {
			return pgqueue.Permanent(errors.New("fails"))
		}
		return nil
	}))
	_, err := c.Enqueue(ctx, seqArgs{Key: "x"}, &pgqueue.EnqueueOptions{Sequence: "x", Unique: &pgqueue.UniqueOpts{}})
	require.ErrorIs(t, err, pgqueue.ErrInvalidArgs, "a job both unique and sequenced")
	enq := func(key string, n int, fail, goOn bool) int64 {
		id, err := c.Enqueue(ctx, seqArgs{Key: key, N: n, Fail: fail}, &pgqueue.EnqueueOptions{Sequence: key, SequenceContinue: goOn})
		require.NoError(t, err)
		return id
	}
	enq("stop", 1, true, false)
	stopped := enq("stop", 2, false, false)
	enq("go", 1, true, true)
	enq("go", 2, false, false)
	start(t, c)
	waitFor(t, "the job after the dead one in sequence stop to be cancelled", func() bool {
		info, err := pgqueue.NewAdmin(b).FindJob(ctx, stopped)
		return err == nil && info.State == pgqueue.StateCancelled
	})
	waitFor(t, "sequence go to run on after its dead job", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(ran) == 3
	})
	mu.Lock()
	require.ElementsMatch(t, []string{"stop/1", "go/1", "go/2"}, ran, "stop/2 never runs; go/2 runs after go/1 died")
	mu.Unlock()
}
