package queuetest

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
)

func uniqueBehaviours(h Harness) []behaviour {
	return []behaviour{
		{"UniqueKeyRaceYieldsOneJob", testUniqueKeyRaceYieldsOneJob},
		{"UniqueKeyFreedWhenJobFinishes", testUniqueKeyFreedWhenJobFinishes},
		{"UniqueByArgsAndBatches", testUniqueByArgsAndBatches},
		{"UniqueKeyScopeIsAsDeclared", func(t *testing.T, b pgqueue.Backend) { testUniqueKeyScope(t, b, h.UniquePerQueue) }},
	}
}

// The same key enqueued into a second queue while the first job waits is
// a duplicate when keys are held across queues, and a job of its own when
// the backend declares them per queue (Harness.UniquePerQueue).
func testUniqueKeyScope(t *testing.T, b pgqueue.Backend, perQueue bool) {
	requireUnique(t, b)
	c := newClient(t, b, fastConfig(t))
	key := &pgqueue.UniqueOpts{Key: "scope:1"}
	first := enqueue(t, c, basicArgs{N: 1}, &pgqueue.EnqueueOptions{Queue: "scope_a", Unique: key})
	id, err := c.Enqueue(context.Background(), basicArgs{N: 2}, &pgqueue.EnqueueOptions{Queue: "scope_b", Unique: key})
	if perQueue {
		require.NoError(t, err, "with keys held per queue, the same key in another queue must be stored")
		require.NotEqual(t, first, id, "the second queue's job must be a job of its own")
		return
	}
	require.ErrorIs(t, err, pgqueue.ErrDuplicateJob, "with keys held across queues, the same key in another queue is a duplicate (set Harness.UniquePerQueue if the backend holds keys per queue)")
	require.Equal(t, first, id, "the duplicate reports the ID of the job holding the key")
}

func requireUnique(t *testing.T, b pgqueue.Backend) {
	t.Helper()
	if _, ok := b.(pgqueue.UniqueInserter); !ok {
		t.Skipf("%T does not implement pgqueue.UniqueInserter", b)
	}
}

// 50 goroutines enqueue the same unique key at once: exactly one job is
// stored, and every other call gets ErrDuplicateJob naming it.
func testUniqueKeyRaceYieldsOneJob(t *testing.T, b pgqueue.Backend) {
	requireUnique(t, b)
	c := newClient(t, b, fastConfig(t))
	opts := &pgqueue.EnqueueOptions{Unique: &pgqueue.UniqueOpts{Key: "report:2026-11"}}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		stored  []int64
		holders []int64
	)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := c.Enqueue(context.Background(), basicArgs{N: i}, opts)
			mu.Lock()
			defer mu.Unlock()
			var dup *pgqueue.DuplicateError
			switch {
			case err == nil:
				stored = append(stored, id)
			case errors.As(err, &dup) && errors.Is(err, pgqueue.ErrDuplicateJob):
				holders = append(holders, id)
			default:
				t.Errorf("enqueue %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	require.Len(t, stored, 1, "exactly one of 50 concurrent enqueues of one unique key may store a job")
	require.Len(t, holders, 49)
	for _, h := range holders {
		require.Equal(t, stored[0], h, "a duplicate reports the ID of the job holding the key")
	}
	require.Len(t, claim(t, b, pgqueue.DefaultQueue, 100, longLease, basicArgs{}.Kind()), 1, "one job in the queue")
}

// The key is held while the job waits or runs, and free once it completes
// or is dead-lettered.
func testUniqueKeyFreedWhenJobFinishes(t *testing.T, b pgqueue.Backend) {
	requireUnique(t, b)
	c := newClient(t, b, fastConfig(t))
	opts := &pgqueue.EnqueueOptions{Unique: &pgqueue.UniqueOpts{Key: "sync:42"}, MaxAttempts: 1}
	first := enqueue(t, c, basicArgs{N: 1}, opts)
	row := claimOne(t, b, longLease, basicArgs{}.Kind())
	require.Equal(t, first, row.ID)
	_, err := c.Enqueue(context.Background(), basicArgs{N: 2}, opts)
	require.ErrorIs(t, err, pgqueue.ErrDuplicateJob, "the key is held while the job runs")
	lost, err := b.Complete(context.Background(), []pgqueue.JobRef{row.Ref()})
	require.NoError(t, err)
	require.Empty(t, lost)

	second := enqueue(t, c, basicArgs{N: 3}, opts)
	require.NotEqual(t, first, second, "after completion the key is free")
	row = claimOne(t, b, longLease, basicArgs{}.Kind())
	require.NoError(t, b.DeadLetter(context.Background(), row.Ref(), pgqueue.AttemptError{Attempt: 1, Kind: "permanent", Error: "x"}))
	third := enqueue(t, c, basicArgs{N: 4}, opts)
	require.NotEqual(t, second, third, "after dead-lettering the key is free")
}

// Keys derived from args ignore field order; EnqueueMany stores the
// others and reports the duplicates' positions.
func testUniqueByArgsAndBatches(t *testing.T, b pgqueue.Backend) {
	requireUnique(t, b)
	c := newClient(t, b, fastConfig(t))
	byArgs := &pgqueue.EnqueueOptions{Unique: &pgqueue.UniqueOpts{ByArgs: true}}
	a := enqueue(t, c, basicArgs{N: 1, Text: "x"}, byArgs)
	_, err := c.Enqueue(context.Background(), basicArgs{N: 1, Text: "x"}, byArgs)
	require.ErrorIs(t, err, pgqueue.ErrDuplicateJob, "same args, same key")
	enqueue(t, c, basicArgs{N: 2, Text: "x"}, byArgs)

	ids, err := c.EnqueueMany(context.Background(), []pgqueue.EnqueueRequest{
		{Args: basicArgs{N: 10}},
		{Args: basicArgs{N: 1, Text: "x"}, Options: byArgs}, // held by a
		{Args: basicArgs{N: 11}, Options: byArgs},
		{Args: basicArgs{N: 11}, Options: byArgs}, // duplicate within the batch
	})
	var dup *pgqueue.DuplicateError
	require.ErrorAs(t, err, &dup)
	require.Equal(t, []int{1, 3}, dup.Indexes)
	require.Len(t, ids, 4)
	require.Equal(t, a, ids[1], "the duplicate's ID is the holder's")
	require.Equal(t, ids[2], ids[3], "a duplicate within a batch is held by the earlier job")
	require.NotZero(t, ids[0])

	_, err = c.Enqueue(context.Background(), basicArgs{N: 1}, &pgqueue.EnqueueOptions{Unique: &pgqueue.UniqueOpts{ByPeriod: -1}})
	require.ErrorIs(t, err, pgqueue.ErrInvalidArgs, "a negative unique period is refused")
}
