package queuetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
)

const (
	// waitTimeout bounds every wait for something that should happen soon.
	// It is generous so that a loaded CI machine fails only real bugs.
	waitTimeout = 10 * time.Second
	// pollEvery is how often waitFor re-checks its condition.
	pollEvery = 10 * time.Millisecond
	// clockSlack is how far apart the test's clock and a backend's clock
	// (a database server's, say) may be for absolute time comparisons.
	clockSlack = 2 * time.Second
	// earlyTolerance is how much earlier than scheduled something may
	// seem to happen when measured on the test's clock: a run-at or lease
	// end is computed on the backend's clock, which may be a little ahead.
	earlyTolerance = 20 * time.Millisecond
	// longLease is a lease that never ends during a test.
	longLease = time.Minute
)

// Kinds used by the backend-level behaviours.
const (
	kindA = "queuetest.a"
	kindB = "queuetest.b"
	kindC = "queuetest.c"
)

// waitFor polls cond until it returns true, and fails the test with what
// it was waiting for if that takes longer than waitTimeout. cond runs on
// the test's goroutine, so it may use require.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
		}
		time.Sleep(pollEvery)
	}
}

// recv waits for a value on ch, failing the test with what it was waiting
// for after waitTimeout.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
		panic("unreachable")
	}
}

// sleepUntil sleeps until the test's clock reaches at.
func sleepUntil(at time.Time) {
	if d := time.Until(at); d > 0 {
		time.Sleep(d)
	}
}

// job returns valid insert params for kind in queue "default".
func job(kind string) pgqueue.InsertParams {
	return pgqueue.InsertParams{
		Kind:        kind,
		Queue:       pgqueue.DefaultQueue,
		Priority:    pgqueue.DefaultPriority,
		Args:        json.RawMessage(`{"n":1}`),
		MaxAttempts: 3,
	}
}

// insert stores jobs and returns their IDs, checking the count.
func insert(t testing.TB, b pgqueue.Backend, jobs ...pgqueue.InsertParams) []int64 {
	t.Helper()
	ids, err := b.Insert(context.Background(), jobs)
	require.NoError(t, err, "Backend.Insert of %d valid jobs must succeed", len(jobs))
	require.Len(t, ids, len(jobs), "Backend.Insert must return one ID per job, in the order given")
	return ids
}

// claim claims up to limit jobs of queue whose kind is in kinds.
func claim(t testing.TB, b pgqueue.Backend, queue string, limit int, lease time.Duration, kinds ...string) []*pgqueue.JobRow {
	t.Helper()
	rows, err := b.Claim(context.Background(), pgqueue.ClaimParams{Queue: queue, Kinds: kinds, Limit: limit, Lease: lease, ClientID: "queuetest"})
	require.NoError(t, err, "Backend.Claim(queue %q, kinds %v, limit %d) must not fail", queue, kinds, limit)
	require.LessOrEqual(t, len(rows), limit, "Backend.Claim must return at most Limit jobs")
	return rows
}

// claimOne claims exactly one job of queue "default" and fails if there
// is not exactly one to claim.
func claimOne(t testing.TB, b pgqueue.Backend, lease time.Duration, kinds ...string) *pgqueue.JobRow {
	t.Helper()
	rows := claim(t, b, pgqueue.DefaultQueue, 10, lease, kinds...)
	require.Len(t, rows, 1, "expected exactly one claimable job of kinds %v in queue %q", kinds, pgqueue.DefaultQueue)
	return rows[0]
}

// requireNothingClaimable fails if any job of kinds in queue is claimable.
func requireNothingClaimable(t testing.TB, b pgqueue.Backend, queue, why string, kinds ...string) {
	t.Helper()
	rows := claim(t, b, queue, 100, longLease, kinds...)
	require.Empty(t, rows, "no job of kinds %v in queue %q should be claimable: %s; claimed IDs %v", kinds, queue, why, rowIDs(rows))
}

// listDead lists dead-lettered jobs matching f.
func listDead(t testing.TB, b pgqueue.Backend, f pgqueue.DeadFilter) []*pgqueue.DeadJob {
	t.Helper()
	dead, err := b.ListDead(context.Background(), f)
	require.NoError(t, err, "Backend.ListDead(%+v) must not fail", f)
	return dead
}

// deadByID returns the dead-lettered job with id, or nil.
func deadByID(t testing.TB, b pgqueue.Backend, id int64) *pgqueue.DeadJob {
	t.Helper()
	dead := listDead(t, b, pgqueue.DeadFilter{IDs: []int64{id}})
	require.LessOrEqual(t, len(dead), 1, "ListDead filtered by one ID must return at most one job")
	if len(dead) == 0 {
		return nil
	}
	require.Equal(t, id, dead[0].ID, "ListDead filtered by ID %d returned another job", id)
	return dead[0]
}

// rescue runs Backend.Rescue with a lease_expired error like the engine's.
func rescue(t testing.TB, b pgqueue.Backend) pgqueue.RescueResult {
	t.Helper()
	res, err := b.Rescue(context.Background(), rescueInfo)
	require.NoError(t, err, "Backend.Rescue must not fail")
	return res
}

// rescueInfo is the error the suite passes to Rescue.
var rescueInfo = pgqueue.AttemptError{At: time.Now().UTC().Truncate(time.Millisecond), Kind: "lease_expired", Error: "queuetest: lease expired"}

// promote runs Backend.PromoteDue.
func promote(t testing.TB, b pgqueue.Backend) pgqueue.PromoteResult {
	t.Helper()
	res, err := b.PromoteDue(context.Background())
	require.NoError(t, err, "Backend.PromoteDue must not fail")
	return res
}

// kill stores each job, claims it and dead-letters it, one after the
// other in the order given, waiting gap between two, and returns their IDs.
// The backend must hold no other available job of the same kind and queue.
func kill(t testing.TB, b pgqueue.Backend, gap time.Duration, jobs ...pgqueue.InsertParams) []int64 {
	t.Helper()
	ids := make([]int64, len(jobs))
	for i, p := range jobs {
		if i > 0 && gap > 0 {
			time.Sleep(gap)
		}
		ids[i] = insert(t, b, p)[0]
		rows := claim(t, b, p.Queue, 1, longLease, p.Kind)
		require.Len(t, rows, 1, "job %d was just inserted and must be claimable so it can be dead-lettered", ids[i])
		require.Equal(t, ids[i], rows[0].ID, "the only available job of kind %q in queue %q must be the one just inserted", p.Kind, p.Queue)
		err := b.DeadLetter(context.Background(), rows[0].Ref(), pgqueue.AttemptError{Attempt: 1, At: time.Now().UTC(), Kind: "permanent", Error: fmt.Sprintf("queuetest: killed job %d", ids[i])})
		require.NoError(t, err, "DeadLetter of a job held under a valid lease must succeed")
	}
	return ids
}

func rowIDs(rows []*pgqueue.JobRow) []int64 {
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	return ids
}

func deadIDs(dead []*pgqueue.DeadJob) []int64 {
	ids := make([]int64, len(dead))
	for i, d := range dead {
		ids[i] = d.ID
	}
	return ids
}

func reversed(ids []int64) []int64 {
	out := slices.Clone(ids)
	slices.Reverse(out)
	return out
}

// requireSameError checks that got records the same failure as want.
func requireSameError(t testing.TB, want, got pgqueue.AttemptError, msgAndArgs ...any) {
	t.Helper()
	ctx := fmt.Sprint(msgAndArgs...)
	require.Equal(t, want.Attempt, got.Attempt, "%s: Attempt", ctx)
	require.Equal(t, want.Kind, got.Kind, "%s: Kind", ctx)
	require.Equal(t, want.Error, got.Error, "%s: Error text", ctx)
	require.Equal(t, want.Stack, got.Stack, "%s: Stack", ctx)
	require.WithinDuration(t, want.At, got.At, time.Millisecond, "%s: At must survive storage (to the millisecond)", ctx)
}
