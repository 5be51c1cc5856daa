package pgqueue_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
	"github.com/pgqueue/pgqueue/memqueue"
)

// wakeRecorder collects the queues a loop woke.
type wakeRecorder struct {
	mu     sync.Mutex
	queues []string
}

func (w *wakeRecorder) wake(queues ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.queues = append(w.queues, queues...)
}

func (w *wakeRecorder) woken() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.queues)
}

func insertJob(t *testing.T, b pgqueue.Backend, queue, kind string, runAt time.Time) int64 {
	t.Helper()
	ids, err := b.Insert(context.Background(), []pgqueue.InsertParams{{Kind: kind, Queue: queue, Priority: 5, Args: []byte(`{}`), MaxAttempts: 3, RunAt: runAt}})
	require.NoError(t, err)
	return ids[0]
}

func TestPromoterStepPromotesDueJobsAndWaitsForTheNextOne(t *testing.T) {
	t.Parallel()
	b := memqueue.New()
	ctx := context.Background()
	insertJob(t, b, "later", "ping", time.Now().Add(150*time.Millisecond))
	w := &wakeRecorder{}
	next := pgqueue.PromoteStep(ctx, b, time.Hour, w.wake)
	require.Empty(t, w.woken(), "nothing is due yet")
	require.Less(t, next, time.Second, "the next pass should come when the scheduled job falls due, not after the hour-long interval")
	time.Sleep(next + 50*time.Millisecond)
	next = pgqueue.PromoteStep(ctx, b, time.Hour, w.wake)
	require.Equal(t, []string{"later"}, w.woken(), "the promoted job's queue is woken")
	require.Equal(t, time.Hour, next, "with nothing scheduled, the next pass is an interval away")
}

func TestRescuerStepRequeuesExpiredLeasesAndWakesTheirQueues(t *testing.T) {
	t.Parallel()
	b := pgtest.Backend(t)
	insertRunningJob(t, b, "ping", 1, 3, true)
	w := &wakeRecorder{}
	res := pgqueue.RescueStep(context.Background(), b, w.wake)
	require.Equal(t, 1, res.Requeued)
	require.Equal(t, []string{"default"}, w.woken())
}

func TestHeartbeaterStepCancelsOnlyTheRunsWhoseLeaseIsGone(t *testing.T) {
	t.Parallel()
	b := memqueue.New()
	ctx := context.Background()
	insertJob(t, b, "q", "ping", time.Time{})
	insertJob(t, b, "q", "ping", time.Time{})
	rows, err := b.Claim(ctx, pgqueue.ClaimParams{Queue: "q", Kinds: []string{"ping"}, Limit: 2, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, rows, 2)
	require.NoError(t, b.CancelJob(ctx, rows[1].ID), "cancel the second job behind its runner's back")
	lost := pgqueue.HeartbeatStep(ctx, b, []pgqueue.JobRef{rows[0].Ref(), rows[1].Ref()}, time.Minute)
	require.Equal(t, []pgqueue.JobRef{rows[1].Ref()}, lost, "only the cancelled job's run is stopped, with ErrLeaseLost")
}

func TestCensusStepCountsDueJobsOfKindsNobodyHere(t *testing.T) {
	t.Parallel()
	b := pgtest.Backend(t)
	insertJob(t, b, "default", "orphan", time.Now().Add(-time.Minute))
	insertJob(t, b, "default", "ping", time.Now().Add(-time.Minute))
	got := pgqueue.CensusStep(context.Background(), b, []string{"default"}, []string{"ping"}, time.Second)
	require.Equal(t, map[string]map[string]int{"default": {"orphan": 1}}, got)
}

func TestFetcherStepFillsFreeSlotsAndNotesABacklog(t *testing.T) {
	t.Parallel()
	b := memqueue.New()
	for range 3 {
		insertJob(t, b, "q", "ping", time.Time{})
	}
	insertJob(t, b, "q", "other", time.Time{})
	rows, backlog := pgqueue.FetchStep(context.Background(), b, "q", []string{"ping"}, 2, 0)
	require.Len(t, rows, 2, "two free slots take two jobs")
	require.True(t, backlog, "a full claim means more may be waiting")
	rows, backlog = pgqueue.FetchStep(context.Background(), b, "q", []string{"ping"}, 2, 0)
	require.Len(t, rows, 1, "one ping job is left; the other kind is not ours")
	require.False(t, backlog)
}

// With claim-ahead, a fetcher claims its free slots plus its allowance in
// one claim, and waits for half the allowance to free before the next.
func TestFetcherClaimsAheadInLargeBatches(t *testing.T) {
	t.Parallel()
	b := memqueue.New()
	for range 50 {
		insertJob(t, b, "q", "ping", time.Time{})
	}
	rows, backlog := pgqueue.FetchStep(context.Background(), b, "q", []string{"ping"}, 10, 10)
	require.Len(t, rows, 20, "10 free slots and 10 ahead make one claim of 20")
	require.True(t, backlog)

	require.Equal(t, 16, pgqueue.ClaimAhead(pgqueue.Config{}, "q", 16), "a queue of 16 workers claims 16 ahead")
	require.Zero(t, pgqueue.ClaimAhead(pgqueue.Config{}, "q", 4), "a small queue claims nothing ahead, so priorities stay exact")
	limited := pgqueue.Config{Queues: map[string]pgqueue.QueueConfig{"q": {MaxWorkers: 16, GlobalMaxWorkers: 20}}}
	require.Zero(t, pgqueue.ClaimAhead(limited, "q", 16), "a queue with global limits claims nothing ahead")
}

// Jobs claimed ahead wait for a worker with their leases kept alive: with
// a lease shorter than their wait, none is rescued and run twice.
func TestJobsClaimedAheadKeepTheirLeases(t *testing.T) {
	t.Parallel()
	b := pgtest.Backend(t)
	const workers, jobs = 8, 24
	var mu sync.Mutex
	runs := map[int]int{}
	cfg := pgqueue.Config{
		Queues: map[string]pgqueue.QueueConfig{pgqueue.DefaultQueue: {MaxWorkers: workers}},
		// Ten heartbeats per lease: a heartbeat late by most of a second
		// on a loaded machine (the race detector, parallel packages)
		// still renews it in time.
		LeaseDuration: time.Second, HeartbeatInterval: 100 * time.Millisecond, RescueInterval: 50 * time.Millisecond,
	}
	other, err := pgqueue.New(b, pgqueue.Config{})
	require.NoError(t, err)
	for i := range jobs {
		_, err := other.Enqueue(context.Background(), pingArgs{Seq: i}, nil)
		require.NoError(t, err)
	}
	startClient(t, b, cfg, func(ctx context.Context, j *pgqueue.Job[pingArgs]) error {
		mu.Lock()
		runs[j.Args.Seq]++
		mu.Unlock()
		time.Sleep(1200 * time.Millisecond) // longer than the lease: the jobs behind wait past it
		return nil
	})
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(runs) == jobs
	}, 30*time.Second, 20*time.Millisecond, "every job should run")
	time.Sleep(1200 * time.Millisecond) // a lease lost at the end would show as a second run by now
	mu.Lock()
	defer mu.Unlock()
	for seq, n := range runs {
		require.Equal(t, 1, n, "job %d ran %d times: a job claimed ahead lost its lease while it waited", seq, n)
	}
}

// Stop puts back the jobs claimed ahead without running them, and without
// spending their attempt, each with its EventReleased: on memqueue one
// Reschedule at a time, on Postgres (a Releaser) in one call, and, when
// that call fails, one at a time by the workers.
func TestStopReleasesJobsClaimedAheadUnrun(t *testing.T) {
	t.Parallel()
	for name, newBackend := range map[string]func(t *testing.T) pgqueue.Backend{
		"memqueue": func(*testing.T) pgqueue.Backend { return memqueue.New() },
		"postgres": func(t *testing.T) pgqueue.Backend { return pgtest.Backend(t) },
		"postgres, batch release failing": func(t *testing.T) pgqueue.Backend {
			return failingReleaser{pgtest.Backend(t)}
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			stopReleasesClaimedAhead(t, newBackend(t))
		})
	}
}

func stopReleasesClaimedAhead(t *testing.T, b pgqueue.Backend) {
	const workers = 8
	c, err := pgqueue.New(b, pgqueue.Config{Queues: map[string]pgqueue.QueueConfig{pgqueue.DefaultQueue: {MaxWorkers: workers}}})
	require.NoError(t, err)
	gate := make(chan struct{})
	var ran sync.WaitGroup
	ran.Add(workers)
	var started atomic.Int32
	require.NoError(t, pgqueue.Register(c, pgqueue.WorkFunc[pingArgs](func(ctx context.Context, j *pgqueue.Job[pingArgs]) error {
		if started.Add(1) <= workers {
			ran.Done()
		}
		<-gate
		return nil
	})))
	ctx := context.Background()
	for i := range 3 * workers {
		_, err := c.Enqueue(ctx, pingArgs{Seq: i}, nil)
		require.NoError(t, err)
	}
	events := c.Subscribe(100)
	defer events.Close()
	require.NoError(t, c.Start(ctx))
	ran.Wait()
	stopped := make(chan error, 1)
	go func() { stopped <- c.Stop(ctx) }()
	time.Sleep(50 * time.Millisecond)
	close(gate)
	require.NoError(t, <-stopped)
	require.EqualValues(t, workers, started.Load(), "only the jobs that had a worker run; those claimed ahead are put back unrun")
	rows, err := b.Claim(ctx, pgqueue.ClaimParams{Queue: pgqueue.DefaultQueue, Kinds: []string{"ping"}, Limit: 100, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, rows, 2*workers, "the 16 jobs not run are available again")
	for _, r := range rows {
		require.Equal(t, 1, r.Attempt, "job %d: a job put back unrun keeps its attempt", r.ID)
	}
	released := 0
	for len(events.C) > 0 {
		ev := <-events.C
		require.NotEqual(t, pgqueue.EventLeaseLost, ev.Kind, "job %d: releasing a job still held must not report a lost lease: %v", ev.Job.ID, ev.Err)
		if ev.Kind == pgqueue.EventReleased {
			released++
		}
	}
	// 16 claimed at the start: 8 ran, 8 waited ahead (the allowance's
	// floor); the other 8 were never claimed.
	require.Equal(t, workers, released, "each job claimed ahead and put back unrun has its EventReleased")
}

// failingReleaser is a real Postgres backend whose batch Release fails, as
// it would with the server gone for that one call.
type failingReleaser struct{ *pgqueue.PostgresBackend }

func (failingReleaser) Release(context.Context, []pgqueue.JobRef) ([]int64, error) {
	return nil, fmt.Errorf("%w: release jobs: injected failure", pgqueue.ErrDatabase)
}
