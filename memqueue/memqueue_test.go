package memqueue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/memqueue"
)

// fakeClock is a hand-moved clock for memqueue.WithClock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func newClocked() (*memqueue.Backend, *fakeClock) {
	clk := &fakeClock{t: t0}
	return memqueue.New(memqueue.WithClock(clk.Now)), clk
}

// job returns InsertParams for kind in queue "q" with priority 5 and 3
// attempts; edit the result for anything else.
func job(kind string) pgqueue.InsertParams {
	return pgqueue.InsertParams{Kind: kind, Queue: "q", Priority: 5, Args: json.RawMessage(`{}`), MaxAttempts: 3}
}

func insert(t *testing.T, b *memqueue.Backend, jobs ...pgqueue.InsertParams) []int64 {
	t.Helper()
	ids, err := b.Insert(context.Background(), jobs)
	require.NoError(t, err, "Insert should accept valid jobs")
	require.Len(t, ids, len(jobs), "Insert should return one ID per job")
	return ids
}

func claim(t *testing.T, b *memqueue.Backend, queue string, limit int, lease time.Duration, kinds ...string) []*pgqueue.JobRow {
	t.Helper()
	rows, err := b.Claim(context.Background(), pgqueue.ClaimParams{Queue: queue, Kinds: kinds, Limit: limit, Lease: lease, ClientID: "test"})
	require.NoError(t, err, "Claim should not fail")
	return rows
}

func ids(rows []*pgqueue.JobRow) []int64 {
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = r.ID
	}
	return out
}

func deadIDs(rows []*pgqueue.DeadJob) []int64 {
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = r.ID
	}
	return out
}

func TestInsertAssignsIncreasingIDsAndStates(t *testing.T) {
	t.Parallel()
	b, clk := newClocked()
	future := job("a")
	future.RunAt = clk.Now().Add(time.Minute)
	past := job("a")
	past.RunAt = clk.Now().Add(-time.Minute)
	now := job("a")
	now.RunAt = clk.Now()

	got := insert(t, b, job("a"), future, past, now)
	require.Equal(t, []int64{1, 2, 3, 4}, got, "IDs should start at 1 and increase in the order given")
	require.Equal(t, []int64{5}, insert(t, b, job("a")), "IDs should keep increasing across Insert calls")
	require.Equal(t, memqueue.Stats{Available: 4, Scheduled: 1}, b.Stats(),
		"zero, past and present RunAt should be available; only the future one scheduled")

	rows := claim(t, b, "q", 10, time.Minute, "a")
	require.Len(t, rows, 4, "every available job should be claimable")
	for _, r := range rows {
		require.Equal(t, t0, r.CreatedAt, "CreatedAt of job %d should be the insert time", r.ID)
		if r.ID == 1 || r.ID == 5 {
			require.Equal(t, t0, r.RunAt, "a zero RunAt should become the insert time (job %d)", r.ID)
		}
	}
}

func TestClaimOrder(t *testing.T) {
	t.Parallel()
	type spec struct {
		priority int
		runAgo   time.Duration // RunAt = insert time - runAgo
	}
	tests := []struct {
		name string
		jobs []spec // inserted in this order, IDs 1..n
		want []int64
	}{
		{
			name: "lower priority number first",
			jobs: []spec{{priority: 5}, {priority: 1}, {priority: 10}, {priority: 3}},
			want: []int64{2, 4, 1, 3},
		},
		{
			name: "same priority: earlier run-at first",
			jobs: []spec{{5, time.Second}, {5, 3 * time.Second}, {5, 2 * time.Second}},
			want: []int64{2, 3, 1},
		},
		{
			name: "same priority and run-at: lower ID first",
			jobs: []spec{{5, time.Second}, {5, time.Second}, {5, time.Second}},
			want: []int64{1, 2, 3},
		},
		{
			name: "priority beats run-at",
			jobs: []spec{{2, time.Hour}, {1, 0}, {2, 2 * time.Hour}},
			want: []int64{2, 3, 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, clk := newClocked()
			for _, s := range tc.jobs {
				p := job("a")
				p.Priority = s.priority
				p.RunAt = clk.Now().Add(-s.runAgo)
				insert(t, b, p)
			}
			var got []int64
			for {
				rows := claim(t, b, "q", 1, time.Minute, "a")
				if len(rows) == 0 {
					break
				}
				got = append(got, rows[0].ID)
			}
			require.Equal(t, tc.want, got, "one-at-a-time claims should follow priority, run-at, ID order")

			// A single big claim must return the same order.
			b2, clk2 := newClocked()
			for _, s := range tc.jobs {
				p := job("a")
				p.Priority = s.priority
				p.RunAt = clk2.Now().Add(-s.runAgo)
				insert(t, b2, p)
			}
			require.Equal(t, tc.want, ids(claim(t, b2, "q", 100, time.Minute, "a")),
				"one claim of all jobs should return them in priority, run-at, ID order")
		})
	}
}

func TestClaimOrderAcrossKinds(t *testing.T) {
	t.Parallel()
	b, _ := newClocked()
	a1, b1, a2, c1 := job("a"), job("b"), job("a"), job("c")
	a1.Priority, b1.Priority, a2.Priority, c1.Priority = 3, 1, 2, 0
	insert(t, b, a1, b1, a2, c1)
	require.Equal(t, []int64{2, 3, 1}, ids(claim(t, b, "q", 10, time.Minute, "a", "b", "a")),
		"jobs of several claimed kinds should interleave by priority; kind c, not asked for, stays; a repeated kind changes nothing")
	require.Equal(t, memqueue.Stats{Available: 1, Running: 3}, b.Stats(), "only the kind-c job should remain available")
}

func TestClaimFilters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		queue string
		kinds []string
		limit int
		want  []int64
	}{
		{name: "only listed kinds", queue: "q", kinds: []string{"a"}, limit: 10, want: []int64{1, 3}},
		{name: "several kinds", queue: "q", kinds: []string{"b", "a"}, limit: 10, want: []int64{1, 2, 3}},
		{name: "unknown kind takes nothing", queue: "q", kinds: []string{"zzz"}, limit: 10, want: nil},
		{name: "no kinds takes nothing", queue: "q", kinds: nil, limit: 10, want: nil},
		{name: "other queue", queue: "other", kinds: []string{"a"}, limit: 10, want: []int64{4}},
		{name: "unknown queue", queue: "nope", kinds: []string{"a"}, limit: 10, want: nil},
		{name: "limit caps", queue: "q", kinds: []string{"a", "b"}, limit: 2, want: []int64{1, 2}},
		{name: "zero limit takes nothing", queue: "q", kinds: []string{"a"}, limit: 0, want: nil},
		{name: "negative limit takes nothing", queue: "q", kinds: []string{"a"}, limit: -1, want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, _ := newClocked()
			other := job("a")
			other.Queue = "other"
			insert(t, b, job("a"), job("b"), job("a"), other)
			got := claim(t, b, tc.queue, tc.limit, time.Minute, tc.kinds...)
			require.Equal(t, tc.want, nilIfEmpty(ids(got)), "claimed job IDs")
			require.Equal(t, 4-len(tc.want), b.Stats().Available, "jobs not claimed should stay available")
		})
	}
}

func nilIfEmpty(s []int64) []int64 {
	if len(s) == 0 {
		return nil
	}
	return s
}

func TestClaimSetsLeaseAndReturnsCopies(t *testing.T) {
	t.Parallel()
	b, clk := newClocked()
	p := job("a")
	p.Args = json.RawMessage(`{"n":1}`)
	insert(t, b, p)
	clk.Advance(time.Second)
	rows := claim(t, b, "q", 1, 30*time.Second, "a")
	require.Len(t, rows, 1, "the available job should be claimed")
	r := rows[0]
	require.Equal(t, 1, r.Attempt, "first claim should be attempt 1")
	require.Equal(t, int64(1), r.Token, "first claim should get token 1")
	require.Equal(t, t0.Add(time.Second), r.AttemptedAt, "AttemptedAt should be the claim time")
	require.Equal(t, t0.Add(31*time.Second), r.LeaseUntil, "lease should end Lease after the claim")
	require.Equal(t, pgqueue.JobRef{ID: 1, Token: 1}, r.Ref(), "Ref should carry ID and token")

	// Mutating the returned row must not reach the store.
	r.Args[2] = 'X'
	r.Errors = append(r.Errors, pgqueue.AttemptError{Error: "mutated"})
	r.Priority = 1
	require.NoError(t, b.Reschedule(context.Background(), r.Ref(), pgqueue.RescheduleParams{}), "reschedule with a valid token")
	again := claim(t, b, "q", 1, time.Minute, "a")
	require.Len(t, again, 1, "the rescheduled job should be claimable again")
	require.JSONEq(t, `{"n":1}`, string(again[0].Args), "args must not change when a caller edits a returned row")
	require.Empty(t, again[0].Errors, "errors must not change when a caller edits a returned row")
	require.Equal(t, 5, again[0].Priority, "priority must not change when a caller edits a returned row")
	require.Equal(t, int64(2), again[0].Token, "each claim should get a new token")
	require.Equal(t, 2, again[0].Attempt, "each claim should count an attempt")
}

func TestInsertCopiesArgs(t *testing.T) {
	t.Parallel()
	b, _ := newClocked()
	p := job("a")
	p.Args = json.RawMessage(`{"n":1}`)
	insert(t, b, p)
	p.Args[2] = 'X'
	rows := claim(t, b, "q", 1, time.Minute, "a")
	require.JSONEq(t, `{"n":1}`, string(rows[0].Args), "editing the caller's args after Insert must not change the stored job")
}

func TestScheduledJobNeedsPromotion(t *testing.T) {
	t.Parallel()
	b, clk := newClocked()
	p := job("a")
	p.RunAt = clk.Now().Add(10 * time.Second)
	insert(t, b, p)
	require.Empty(t, claim(t, b, "q", 10, time.Minute, "a"), "a future job should not be claimable")

	clk.Advance(20 * time.Second)
	require.Empty(t, claim(t, b, "q", 10, time.Minute, "a"),
		"a scheduled job past its run-at should stay unclaimable until PromoteDue, as in Postgres")

	res, err := b.PromoteDue(context.Background())
	require.NoError(t, err, "PromoteDue")
	require.Equal(t, []string{"q"}, res.Queues, "PromoteDue should report the queue it filled")
	rows := claim(t, b, "q", 10, time.Minute, "a")
	require.Len(t, rows, 1, "a promoted job should be claimable")
	require.Equal(t, t0.Add(10*time.Second), rows[0].RunAt, "promotion should keep the job's run-at")
}

func TestPromoteDue(t *testing.T) {
	t.Parallel()
	b, clk := newClocked()
	ctx := context.Background()

	res, err := b.PromoteDue(ctx)
	require.NoError(t, err, "PromoteDue on an empty backend")
	require.Equal(t, pgqueue.PromoteResult{}, res, "nothing scheduled: no queues, HasNext false")

	at := func(queue string, in time.Duration) pgqueue.InsertParams {
		p := job("a")
		p.Queue, p.RunAt = queue, clk.Now().Add(in)
		return p
	}
	insert(t, b, at("b", 5*time.Second), at("a", 5*time.Second), at("b", 6*time.Second), at("c", 30*time.Second), at("a", 7*time.Second))

	res, err = b.PromoteDue(ctx)
	require.NoError(t, err, "PromoteDue")
	require.Empty(t, res.Queues, "nothing is due yet")
	require.True(t, res.HasNext, "scheduled jobs remain")
	require.Equal(t, 5*time.Second, res.NextIn, "NextIn should be the time until the earliest scheduled job")

	clk.Advance(7 * time.Second)
	res, err = b.PromoteDue(ctx)
	require.NoError(t, err, "PromoteDue")
	require.Equal(t, []string{"a", "b"}, res.Queues, "each promoted queue once, sorted")
	require.True(t, res.HasNext, "the job in queue c is still scheduled")
	require.Equal(t, 23*time.Second, res.NextIn, "NextIn should count from now to the remaining job's run-at")
	require.Equal(t, memqueue.Stats{Available: 4, Scheduled: 1}, b.Stats(), "four jobs promoted, one left")

	clk.Advance(time.Hour)
	res, err = b.PromoteDue(ctx)
	require.NoError(t, err, "PromoteDue")
	require.Equal(t, pgqueue.PromoteResult{Queues: []string{"c"}}, res, "last job promoted; HasNext false")
}

// TestStaleTokenIsFenced checks that every lease-taking method refuses a
// ref whose claim is over, however it ended.
func TestStaleTokenIsFenced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	// Each way makes the first claim's ref stale and returns it.
	ways := map[string]func(t *testing.T, b *memqueue.Backend, clk *fakeClock) pgqueue.JobRef{
		"rescued and claimed again": func(t *testing.T, b *memqueue.Backend, clk *fakeClock) pgqueue.JobRef {
			first := claim(t, b, "q", 1, time.Second, "a")[0]
			clk.Advance(2 * time.Second)
			res, err := b.Rescue(ctx, pgqueue.AttemptError{Kind: "lease_expired"})
			require.NoError(t, err, "Rescue")
			require.Equal(t, 1, res.Requeued, "the expired job should be requeued")
			second := claim(t, b, "q", 1, time.Minute, "a")[0]
			require.Equal(t, first.ID, second.ID, "the same job is claimed again")
			require.Greater(t, second.Token, first.Token, "the new claim must get a newer token")
			return first.Ref()
		},
		"rescued, not yet claimed": func(t *testing.T, b *memqueue.Backend, clk *fakeClock) pgqueue.JobRef {
			first := claim(t, b, "q", 1, time.Second, "a")[0]
			clk.Advance(2 * time.Second)
			_, err := b.Rescue(ctx, pgqueue.AttemptError{Kind: "lease_expired"})
			require.NoError(t, err, "Rescue")
			return first.Ref()
		},
		"completed already": func(t *testing.T, b *memqueue.Backend, clk *fakeClock) pgqueue.JobRef {
			first := claim(t, b, "q", 1, time.Minute, "a")[0]
			lost, err := b.Complete(ctx, []pgqueue.JobRef{first.Ref()})
			require.NoError(t, err, "Complete")
			require.Empty(t, lost, "the first Complete holds the lease")
			return first.Ref()
		},
		"wrong token": func(t *testing.T, b *memqueue.Backend, clk *fakeClock) pgqueue.JobRef {
			first := claim(t, b, "q", 1, time.Minute, "a")[0]
			return pgqueue.JobRef{ID: first.ID, Token: first.Token + 1}
		},
		"unknown job": func(t *testing.T, b *memqueue.Backend, clk *fakeClock) pgqueue.JobRef {
			return pgqueue.JobRef{ID: 999, Token: 1}
		},
	}
	ops := map[string]func(b *memqueue.Backend, ref pgqueue.JobRef) error{
		"Complete": func(b *memqueue.Backend, ref pgqueue.JobRef) error {
			lost, err := b.Complete(ctx, []pgqueue.JobRef{ref})
			return lostErr(lost, err, ref)
		},
		"Heartbeat": func(b *memqueue.Backend, ref pgqueue.JobRef) error {
			lost, err := b.Heartbeat(ctx, []pgqueue.JobRef{ref}, time.Minute)
			return lostErr(lost, err, ref)
		},
		"Reschedule": func(b *memqueue.Backend, ref pgqueue.JobRef) error {
			return b.Reschedule(ctx, ref, pgqueue.RescheduleParams{Error: &pgqueue.AttemptError{Error: "x"}})
		},
		"DeadLetter": func(b *memqueue.Backend, ref pgqueue.JobRef) error {
			return b.DeadLetter(ctx, ref, pgqueue.AttemptError{Error: "x"})
		},
	}
	for wayName, way := range ways {
		for opName, op := range ops {
			t.Run(wayName+"/"+opName, func(t *testing.T) {
				t.Parallel()
				b, clk := newClocked()
				insert(t, b, job("a"))
				stale := way(t, b, clk)
				before := b.Stats()
				err := op(b, stale)
				require.ErrorIs(t, err, pgqueue.ErrLeaseLost, "%s with a stale ref should report the lease lost", opName)
				require.Equal(t, before, b.Stats(), "%s with a stale ref must change nothing", opName)
			})
		}
	}
}

// lostErr turns a batch method's lost list into ErrLeaseLost for ref.
func lostErr(lost []pgqueue.JobRef, err error, ref pgqueue.JobRef) error {
	if err != nil {
		return err
	}
	if slices.Contains(lost, ref) {
		return pgqueue.ErrLeaseLost
	}
	return nil
}

func TestCompleteAndHeartbeatReportOnlyLostRefs(t *testing.T) {
	t.Parallel()
	b, _ := newClocked()
	ctx := context.Background()
	insert(t, b, job("a"), job("a"), job("a"))
	rows := claim(t, b, "q", 3, time.Minute, "a")
	stale := pgqueue.JobRef{ID: rows[1].ID, Token: 99}

	lost, err := b.Heartbeat(ctx, []pgqueue.JobRef{rows[0].Ref(), stale, rows[2].Ref()}, time.Minute)
	require.NoError(t, err, "Heartbeat")
	require.Equal(t, []pgqueue.JobRef{stale}, lost, "Heartbeat should report only the stale ref")

	lost, err = b.Complete(ctx, []pgqueue.JobRef{rows[0].Ref(), stale, rows[2].Ref(), rows[0].Ref()})
	require.NoError(t, err, "Complete")
	require.Equal(t, []pgqueue.JobRef{stale, rows[0].Ref()}, lost,
		"Complete should report the stale ref and the second completion of the same claim")
	require.Equal(t, memqueue.Stats{Running: 1}, b.Stats(), "completed jobs leave the store; job 2 is still running")
}

func TestReschedule(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	failure := pgqueue.AttemptError{Attempt: 1, Error: "boom", Kind: "error"}
	tests := []struct {
		name        string
		p           pgqueue.RescheduleParams
		wantState   memqueue.Stats
		wantAttempt int // on the next claim
		wantErrors  int
	}{
		{name: "retry now with error", p: pgqueue.RescheduleParams{Error: &failure}, wantState: memqueue.Stats{Available: 1}, wantAttempt: 2, wantErrors: 1},
		{name: "retry later", p: pgqueue.RescheduleParams{Delay: time.Minute, Error: &failure}, wantState: memqueue.Stats{Scheduled: 1}, wantAttempt: 2, wantErrors: 1},
		{name: "snooze refunds the attempt", p: pgqueue.RescheduleParams{Delay: time.Minute, RefundAttempt: true}, wantState: memqueue.Stats{Scheduled: 1}, wantAttempt: 1, wantErrors: 0},
		{name: "release now refunds the attempt", p: pgqueue.RescheduleParams{RefundAttempt: true}, wantState: memqueue.Stats{Available: 1}, wantAttempt: 1, wantErrors: 0},
		{name: "negative delay means now", p: pgqueue.RescheduleParams{Delay: -time.Second}, wantState: memqueue.Stats{Available: 1}, wantAttempt: 2, wantErrors: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, clk := newClocked()
			insert(t, b, job("a"))
			first := claim(t, b, "q", 1, time.Minute, "a")[0]
			clk.Advance(time.Second)
			require.NoError(t, b.Reschedule(ctx, first.Ref(), tc.p), "Reschedule with the current token")
			require.Equal(t, tc.wantState, b.Stats(), "state after Reschedule")

			clk.Advance(time.Hour)
			_, err := b.PromoteDue(ctx)
			require.NoError(t, err, "PromoteDue")
			rows := claim(t, b, "q", 1, time.Minute, "a")
			require.Len(t, rows, 1, "the rescheduled job should be claimable once due and promoted")
			require.Equal(t, tc.wantAttempt, rows[0].Attempt, "attempt on the next claim")
			require.Len(t, rows[0].Errors, tc.wantErrors, "error history length")
			if tc.p.Delay > 0 {
				require.Equal(t, t0.Add(time.Second+tc.p.Delay), rows[0].RunAt, "run-at should be Delay after the reschedule")
			} else {
				require.Equal(t, t0.Add(time.Second), rows[0].RunAt, "run-at should be the reschedule time")
			}
		})
	}
}

func TestRescueAfterLeaseExpiry(t *testing.T) {
	t.Parallel()
	b := memqueue.New() // real clock
	ctx := context.Background()
	insert(t, b, job("a"))
	rows := claim(t, b, "q", 1, 20*time.Millisecond, "a")
	require.Len(t, rows, 1, "claim the job with a short lease")
	time.Sleep(40 * time.Millisecond) // let the lease end; no worker heartbeats it

	res, err := b.Rescue(ctx, pgqueue.AttemptError{Kind: "lease_expired", Error: "lease expired", Attempt: 77})
	require.NoError(t, err, "Rescue")
	require.Equal(t, pgqueue.RescueResult{Requeued: 1, Queues: []string{"q"}}, res, "the expired job should be requeued, not dead-lettered")

	again := claim(t, b, "q", 1, time.Minute, "a")
	require.Len(t, again, 1, "the rescued job should be claimable at once")
	require.Equal(t, 2, again[0].Attempt, "the crashed run counts as an attempt")
	require.Len(t, again[0].Errors, 1, "the rescue should record one error")
	require.Equal(t, "lease_expired", again[0].Errors[0].Kind, "error kind as passed to Rescue")
	require.Equal(t, 1, again[0].Errors[0].Attempt, "the error's attempt should be the job's attempt, not the caller's")

	res, err = b.Rescue(ctx, pgqueue.AttemptError{Kind: "lease_expired"})
	require.NoError(t, err, "Rescue")
	require.Equal(t, pgqueue.RescueResult{}, res, "a job with a valid lease must not be rescued")
}

func TestRescueDeadLettersWhenOutOfAttempts(t *testing.T) {
	t.Parallel()
	b, clk := newClocked()
	ctx := context.Background()
	last, spare := job("a"), job("a")
	last.MaxAttempts, spare.MaxAttempts = 1, 2
	other := job("a")
	other.Queue, other.MaxAttempts = "other", 1
	insert(t, b, last, spare, other)
	claim(t, b, "q", 2, time.Second, "a")
	claim(t, b, "other", 1, time.Second, "a")

	clk.Advance(500 * time.Millisecond)
	res, err := b.Rescue(ctx, pgqueue.AttemptError{Kind: "lease_expired"})
	require.NoError(t, err, "Rescue")
	require.Equal(t, pgqueue.RescueResult{}, res, "leases have not ended yet")

	clk.Advance(time.Second)
	res, err = b.Rescue(ctx, pgqueue.AttemptError{Kind: "lease_expired", Error: "gone"})
	require.NoError(t, err, "Rescue")
	require.Equal(t, pgqueue.RescueResult{Requeued: 1, DeadLettered: 2, Queues: []string{"q"}}, res,
		"jobs on their last attempt are dead-lettered; only the queue that got a job back is listed")

	dead, err := b.ListDead(ctx, pgqueue.DeadFilter{})
	require.NoError(t, err, "ListDead")
	require.ElementsMatch(t, []int64{1, 3}, deadIDs(dead), "jobs out of attempts should be in the dead-letter store")
	for _, d := range dead {
		require.Equal(t, t0.Add(1500*time.Millisecond), d.DiedAt, "DiedAt should be the rescue time")
		require.Len(t, d.Errors, 1, "the lease-expired error should be recorded on dead job %d", d.ID)
		require.Equal(t, "gone", d.Errors[0].Error, "error text on dead job %d", d.ID)
	}
}

func TestHeartbeatKeepsJobFromRescue(t *testing.T) {
	t.Parallel()
	b, clk := newClocked()
	ctx := context.Background()
	insert(t, b, job("a"))
	r := claim(t, b, "q", 1, 10*time.Second, "a")[0]

	clk.Advance(8 * time.Second)
	lost, err := b.Heartbeat(ctx, []pgqueue.JobRef{r.Ref()}, 10*time.Second)
	require.NoError(t, err, "Heartbeat")
	require.Empty(t, lost, "the claim still holds its lease")

	clk.Advance(8 * time.Second) // past the first lease, inside the extended one
	res, err := b.Rescue(ctx, pgqueue.AttemptError{Kind: "lease_expired"})
	require.NoError(t, err, "Rescue")
	require.Zero(t, res.Requeued+res.DeadLettered, "a heartbeated job must not be rescued")

	clk.Advance(3 * time.Second)
	res, err = b.Rescue(ctx, pgqueue.AttemptError{Kind: "lease_expired"})
	require.NoError(t, err, "Rescue")
	require.Equal(t, 1, res.Requeued, "once the extended lease ends the job is rescued")
}

func TestDeadLetterAndRequeue(t *testing.T) {
	t.Parallel()
	b, clk := newClocked()
	ctx := context.Background()
	insert(t, b, job("a"))
	first := claim(t, b, "q", 1, time.Minute, "a")[0]
	e1 := pgqueue.AttemptError{Attempt: 1, Error: "first", Kind: "error"}
	require.NoError(t, b.Reschedule(ctx, first.Ref(), pgqueue.RescheduleParams{Error: &e1}), "Reschedule")
	second := claim(t, b, "q", 1, time.Minute, "a")[0]
	e2 := pgqueue.AttemptError{Attempt: 2, Error: "second", Kind: "permanent"}
	clk.Advance(time.Second)
	require.NoError(t, b.DeadLetter(ctx, second.Ref(), e2), "DeadLetter with the current token")
	require.Equal(t, memqueue.Stats{Dead: 1}, b.Stats(), "the job should be only in the dead-letter store")

	dead, err := b.ListDead(ctx, pgqueue.DeadFilter{})
	require.NoError(t, err, "ListDead")
	require.Len(t, dead, 1, "one dead job")
	d := dead[0]
	require.Equal(t, []pgqueue.AttemptError{e1, e2}, d.Errors, "every attempt's error, oldest first")
	require.Equal(t, 2, d.Attempt, "attempts used at death")
	require.Equal(t, t0.Add(time.Second), d.DiedAt, "DiedAt is the dead-letter time")
	d.Errors[0].Error = "mutated"
	again, err := b.ListDead(ctx, pgqueue.DeadFilter{})
	require.NoError(t, err, "ListDead")
	require.Equal(t, "first", again[0].Errors[0].Error, "ListDead must return copies")

	n, err := b.RequeueDead(ctx, []int64{d.ID, d.ID, 12345})
	require.NoError(t, err, "RequeueDead")
	require.Equal(t, 1, n, "one job moved; a repeated and an unknown ID are skipped")
	require.Equal(t, memqueue.Stats{Available: 1}, b.Stats(), "the requeued job should be available")

	third := claim(t, b, "q", 1, time.Minute, "a")[0]
	require.Equal(t, 1, third.Attempt, "requeue resets the attempt count")
	require.Equal(t, []pgqueue.AttemptError{e1, e2}, third.Errors, "requeue keeps the error history")
	require.Equal(t, second.Token+1, third.Token, "tokens keep increasing across dead-letter and requeue")
	require.Equal(t, t0.Add(time.Second), third.RunAt, "a requeued job is due at requeue time")

	require.ErrorIs(t, b.DeadLetter(ctx, second.Ref(), e2), pgqueue.ErrLeaseLost,
		"the claim before the dead-letter must stay fenced out after requeue")
}

// deadStore builds a backend with four dead jobs:
//
//	ID 1 kind a queue q  died t0+1s
//	ID 2 kind b queue q  died t0+2s
//	ID 3 kind a queue r  died t0+3s
//	ID 4 kind a queue q  died t0+3s (same instant as 3)
func deadStore(t *testing.T) *memqueue.Backend {
	t.Helper()
	b, clk := newClocked()
	ctx := context.Background()
	specs := []struct {
		kind, queue string
		diesAt      time.Duration
	}{{"a", "q", time.Second}, {"b", "q", 2 * time.Second}, {"a", "r", 3 * time.Second}, {"a", "q", 3 * time.Second}}
	for _, s := range specs {
		p := job(s.kind)
		p.Queue = s.queue
		insert(t, b, p)
	}
	for _, s := range specs {
		clk.Set(t0.Add(s.diesAt))
		rows := claim(t, b, s.queue, 1, time.Minute, s.kind)
		require.Len(t, rows, 1, "claim a %s job in %s to dead-letter it", s.kind, s.queue)
		require.NoError(t, b.DeadLetter(ctx, rows[0].Ref(), pgqueue.AttemptError{Error: "x"}), "DeadLetter")
	}
	return b
}

func deadFilters() []struct {
	name string
	f    pgqueue.DeadFilter
	want []int64 // newest first
} {
	return []struct {
		name string
		f    pgqueue.DeadFilter
		want []int64
	}{
		{name: "everything, newest first, ties by higher ID", f: pgqueue.DeadFilter{}, want: []int64{4, 3, 2, 1}},
		{name: "by kind", f: pgqueue.DeadFilter{Kind: "a"}, want: []int64{4, 3, 1}},
		{name: "by queue", f: pgqueue.DeadFilter{Queue: "q"}, want: []int64{4, 2, 1}},
		{name: "by kind and queue", f: pgqueue.DeadFilter{Kind: "a", Queue: "q"}, want: []int64{4, 1}},
		{name: "by IDs", f: pgqueue.DeadFilter{IDs: []int64{1, 3, 99}}, want: []int64{3, 1}},
		{name: "died before (strict)", f: pgqueue.DeadFilter{DiedBefore: t0.Add(2 * time.Second)}, want: []int64{1}},
		{name: "died after (strict)", f: pgqueue.DeadFilter{DiedAfter: t0.Add(2 * time.Second)}, want: []int64{4, 3}},
		{name: "time window", f: pgqueue.DeadFilter{DiedAfter: t0, DiedBefore: t0.Add(3 * time.Second)}, want: []int64{2, 1}},
		{name: "no match", f: pgqueue.DeadFilter{Kind: "zzz"}, want: nil},
	}
}

func TestListDead(t *testing.T) {
	t.Parallel()
	tests := deadFilters()
	tests = append(tests, []struct {
		name string
		f    pgqueue.DeadFilter
		want []int64
	}{
		{name: "limit keeps the newest", f: pgqueue.DeadFilter{Limit: 2}, want: []int64{4, 3}},
		{name: "limit with filter", f: pgqueue.DeadFilter{Kind: "a", Limit: 1}, want: []int64{4}},
	}...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := deadStore(t)
			got, err := b.ListDead(context.Background(), tc.f)
			require.NoError(t, err, "ListDead")
			require.Equal(t, tc.want, nilIfEmpty(deadIDs(got)), "dead job IDs for filter %+v", tc.f)
		})
	}
}

func TestListDeadDefaultLimit(t *testing.T) {
	t.Parallel()
	b, _ := newClocked()
	ctx := context.Background()
	jobs := make([]pgqueue.InsertParams, 150)
	for i := range jobs {
		jobs[i] = job("a")
	}
	insert(t, b, jobs...)
	for _, r := range claim(t, b, "q", 150, time.Minute, "a") {
		require.NoError(t, b.DeadLetter(ctx, r.Ref(), pgqueue.AttemptError{}), "DeadLetter job %d", r.ID)
	}
	got, err := b.ListDead(ctx, pgqueue.DeadFilter{})
	require.NoError(t, err, "ListDead")
	require.Len(t, got, 100, "a zero Limit should return 100 jobs")
	require.Equal(t, int64(150), got[0].ID, "same DiedAt: the highest ID comes first")
}

func TestPurgeDead(t *testing.T) {
	t.Parallel()
	tests := deadFilters()
	tests = append(tests, struct {
		name string
		f    pgqueue.DeadFilter
		want []int64
	}{name: "limit is ignored", f: pgqueue.DeadFilter{Limit: 1}, want: []int64{4, 3, 2, 1}})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := deadStore(t)
			ctx := context.Background()
			n, err := b.PurgeDead(ctx, tc.f)
			require.NoError(t, err, "PurgeDead")
			require.Equal(t, len(tc.want), n, "purged count for filter %+v", tc.f)
			left, err := b.ListDead(ctx, pgqueue.DeadFilter{})
			require.NoError(t, err, "ListDead")
			for _, id := range tc.want {
				require.NotContains(t, deadIDs(left), id, "job %d matched the filter and should be purged", id)
			}
			require.Len(t, left, 4-len(tc.want), "jobs not matching the filter should stay")
		})
	}
}

// recorder collects Listen wake-ups.
type recorder struct {
	mu    sync.Mutex
	woken []string
}

func (r *recorder) wake(q string) {
	r.mu.Lock()
	r.woken = append(r.woken, q)
	r.mu.Unlock()
}

func (r *recorder) has(q string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.woken, q)
}

func listen(t *testing.T, b *memqueue.Backend, wake func(string)) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Listen(ctx, wake) }()
	return func() {
		cancel()
		require.NoError(t, <-done, "Listen should return nil when its context ends")
	}
}

func TestListenWakesEveryListener(t *testing.T) {
	t.Parallel()
	b, _ := newClocked()
	r1, r2 := &recorder{}, &recorder{}
	stop1 := listen(t, b, r1.wake)
	defer stop1()
	stop2 := listen(t, b, r2.wake)
	defer stop2()

	// Listen registers on its own goroutine: insert until both hear it.
	require.Eventually(t, func() bool {
		insert(t, b, job("a"))
		return r1.has("q") && r2.has("q")
	}, 5*time.Second, 5*time.Millisecond, "both listeners should be woken for an insert into q")

	// The other sources of wake-ups are covered one by one in TestWakeSources.
}

// TestWakeSources checks each non-insert source of available jobs wakes
// the queue on its own, by inserting scheduled jobs (which wake nobody).
func TestWakeSources(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name string
		// setup leaves one job in queue "q" without having woken "q", and
		// returns the action that should wake it.
		setup func(t *testing.T, b *memqueue.Backend, clk *fakeClock) func()
	}{
		{"PromoteDue", func(t *testing.T, b *memqueue.Backend, clk *fakeClock) func() {
			return func() {
				clk.Advance(time.Hour)
				_, err := b.PromoteDue(ctx)
				require.NoError(t, err, "PromoteDue")
			}
		}},
		{"Reschedule now", func(t *testing.T, b *memqueue.Backend, clk *fakeClock) func() {
			clk.Advance(time.Hour)
			_, err := b.PromoteDue(ctx)
			require.NoError(t, err, "PromoteDue")
			r := claim(t, b, "q", 1, time.Minute, "a")[0]
			return func() {
				require.NoError(t, b.Reschedule(ctx, r.Ref(), pgqueue.RescheduleParams{}), "Reschedule")
			}
		}},
		{"Rescue", func(t *testing.T, b *memqueue.Backend, clk *fakeClock) func() {
			clk.Advance(time.Hour)
			_, err := b.PromoteDue(ctx)
			require.NoError(t, err, "PromoteDue")
			claim(t, b, "q", 1, time.Second, "a")
			return func() {
				clk.Advance(time.Minute)
				_, err := b.Rescue(ctx, pgqueue.AttemptError{})
				require.NoError(t, err, "Rescue")
			}
		}},
		{"RequeueDead", func(t *testing.T, b *memqueue.Backend, clk *fakeClock) func() {
			clk.Advance(time.Hour)
			_, err := b.PromoteDue(ctx)
			require.NoError(t, err, "PromoteDue")
			r := claim(t, b, "q", 1, time.Minute, "a")[0]
			require.NoError(t, b.DeadLetter(ctx, r.Ref(), pgqueue.AttemptError{}), "DeadLetter")
			return func() {
				_, err := b.RequeueDead(ctx, []int64{r.ID})
				require.NoError(t, err, "RequeueDead")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, clk := newClocked()
			p := job("a")
			p.RunAt = clk.Now().Add(time.Minute)
			insert(t, b, p) // scheduled: wakes nobody
			act := tc.setup(t, b, clk)

			// Register the listener only now, so that wakes from setup are
			// not seen; a probe queue tells us when it is registered.
			rec := &recorder{}
			stop := listen(t, b, rec.wake)
			defer stop()
			probe := job("probe")
			probe.Queue = "probe"
			require.Eventually(t, func() bool {
				insert(t, b, probe)
				return rec.has("probe")
			}, 5*time.Second, 5*time.Millisecond, "the listener should start hearing wake-ups")
			require.False(t, rec.has("q"), "queue q should not have been woken before the action")

			act()
			require.Eventually(t, func() bool { return rec.has("q") }, 5*time.Second, time.Millisecond,
				"%s should wake queue q", tc.name)
		})
	}
}

func TestSlowListenerNeverBlocksWriters(t *testing.T) {
	t.Parallel()
	b, _ := newClocked()
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	rec := &recorder{}
	stop := listen(t, b, func(q string) {
		select {
		case started <- struct{}{}:
		default:
		}
		<-release // stuck until the test lets go
		rec.wake(q)
	})
	defer stop()

	// Wait until the listener is inside wake and stuck.
	require.Eventually(t, func() bool {
		insert(t, b, job("a"))
		select {
		case <-started:
			return true
		default:
			return false
		}
	}, 5*time.Second, 5*time.Millisecond, "the listener should receive a first wake-up")

	// These inserts would deadlock the test if a stuck listener blocked them.
	for i := range 1000 {
		p := job("a")
		p.Queue = fmt.Sprintf("q%d", i%3)
		insert(t, b, p)
	}
	close(release)
	for i := range 3 {
		q := fmt.Sprintf("q%d", i)
		require.Eventually(t, func() bool { return rec.has(q) }, 5*time.Second, time.Millisecond,
			"wakes coalesced while the listener was stuck should still arrive for %s", q)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.Less(t, len(rec.woken), 100, "1000 inserts into 3 queues while stuck should coalesce into a few wake-ups")
}

func TestListenReturnsNilWhenContextEnds(t *testing.T) {
	t.Parallel()
	b := memqueue.New()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, b.Listen(ctx, func(string) {}), "Listen on an ended context should return nil at once")
	require.Error(t, b.Listen(context.Background(), nil), "Listen with a nil wake function should fail")
}

func TestCancelledContext(t *testing.T) {
	t.Parallel()
	b := memqueue.New()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ref := pgqueue.JobRef{ID: 1, Token: 1}
	calls := map[string]func() error{
		"Insert": func() error { _, err := b.Insert(ctx, []pgqueue.InsertParams{job("a")}); return err },
		"Claim": func() error {
			_, err := b.Claim(ctx, pgqueue.ClaimParams{Queue: "q", Kinds: []string{"a"}, Limit: 1})
			return err
		},
		"Complete":    func() error { _, err := b.Complete(ctx, []pgqueue.JobRef{ref}); return err },
		"Reschedule":  func() error { return b.Reschedule(ctx, ref, pgqueue.RescheduleParams{}) },
		"DeadLetter":  func() error { return b.DeadLetter(ctx, ref, pgqueue.AttemptError{}) },
		"Heartbeat":   func() error { _, err := b.Heartbeat(ctx, []pgqueue.JobRef{ref}, time.Second); return err },
		"PromoteDue":  func() error { _, err := b.PromoteDue(ctx); return err },
		"Rescue":      func() error { _, err := b.Rescue(ctx, pgqueue.AttemptError{}); return err },
		"ListDead":    func() error { _, err := b.ListDead(ctx, pgqueue.DeadFilter{}); return err },
		"RequeueDead": func() error { _, err := b.RequeueDead(ctx, []int64{1}); return err },
		"PurgeDead":   func() error { _, err := b.PurgeDead(ctx, pgqueue.DeadFilter{}); return err },
	}
	for name, call := range calls {
		require.ErrorIs(t, call(), context.Canceled, "%s on a cancelled context should return ctx.Err()", name)
	}
	require.Equal(t, memqueue.Stats{}, b.Stats(), "nothing should be stored through a cancelled context")
}

func TestConcurrentClaimsNeverShareAJob(t *testing.T) {
	t.Parallel()
	b := memqueue.New()
	ctx := context.Background()
	const n = 2000
	jobs := make([]pgqueue.InsertParams, n)
	for i := range jobs {
		jobs[i] = job([]string{"a", "b"}[i%2])
	}
	insert(t, b, jobs...)

	var (
		mu   sync.Mutex
		seen = map[int64]int{}
		wg   sync.WaitGroup
	)
	for range 8 {
		wg.Go(func() {
			for {
				rows, err := b.Claim(ctx, pgqueue.ClaimParams{Queue: "q", Kinds: []string{"a", "b"}, Limit: 7, Lease: time.Minute})
				if err != nil || len(rows) == 0 {
					return
				}
				refs := make([]pgqueue.JobRef, len(rows))
				for i, r := range rows {
					refs[i] = r.Ref()
				}
				mu.Lock()
				for _, r := range rows {
					seen[r.ID]++
				}
				mu.Unlock()
				if lost, err := b.Complete(ctx, refs); err != nil || len(lost) > 0 {
					t.Errorf("Complete of freshly claimed jobs: lost %v, err %v", lost, err)
					return
				}
			}
		})
	}
	wg.Wait()
	require.Len(t, seen, n, "every job should be claimed")
	for id, count := range seen {
		require.Equal(t, 1, count, "job %d was claimed by more than one worker", id)
	}
	require.Equal(t, memqueue.Stats{}, b.Stats(), "every job should be completed and gone")
}

func TestUsableByClient(t *testing.T) {
	t.Parallel()
	var _ pgqueue.Backend = memqueue.New()
	_, err := pgqueue.New(memqueue.New(), pgqueue.Config{})
	require.NoError(t, err, "a Client should accept a memqueue Backend")
}
