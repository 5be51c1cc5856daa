package pgqueue_test

import (
	"context"
	"slices"
	"sync"
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
	rows, backlog := pgqueue.FetchStep(context.Background(), b, "q", []string{"ping"}, 2)
	require.Len(t, rows, 2, "two free slots take two jobs")
	require.True(t, backlog, "a full claim means more may be waiting")
	rows, backlog = pgqueue.FetchStep(context.Background(), b, "q", []string{"ping"}, 2)
	require.Len(t, rows, 1, "one ping job is left; the other kind is not ours")
	require.False(t, backlog)
}
