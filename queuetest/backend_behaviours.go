package queuetest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
)

// backendBehaviours are the checks that call Backend methods directly.
func backendBehaviours() []behaviour {
	return []behaviour{
		{"InsertAndClaimRoundTrip", testInsertAndClaimRoundTrip},
		{"ClaimOrder", testClaimOrder},
		{"ClaimLimit", testClaimLimit},
		{"ClaimKindFilter", testClaimKindFilter},
		{"ClaimQueueIsolation", testClaimQueueIsolation},
		{"ScheduledJobWaitsForPromoteDue", testScheduledJobWaitsForPromoteDue},
		{"PromoteDueResult", testPromoteDueResult},
		{"CompleteRemovesJob", testCompleteRemovesJob},
		{"TokenFencing", testTokenFencing},
		{"ConcurrentClaimsNeverShareAJob", testConcurrentClaimsNeverShareAJob},
		{"HeartbeatExtendsLease", testHeartbeatExtendsLease},
		{"ExpiredLeaseIsRescued", testExpiredLeaseIsRescued},
		{"RescueDeadLettersExhaustedJobs", testRescueDeadLettersExhaustedJobs},
		{"ConcurrentRescuesCountEachJobOnce", testConcurrentRescuesCountEachJobOnce},
		{"Reschedule", testReschedule},
		{"ReleasePutsBackOnlyJobsStillHeld", testReleasePutsBackOnlyJobsStillHeld},
		{"DeadLetterKeepsErrorHistory", testDeadLetterKeepsErrorHistory},
		{"ListDeadFilters", testListDeadFilters},
		{"ListDeadDefaultLimit", testListDeadDefaultLimit},
		{"RequeueDead", testRequeueDead},
		{"PurgeDead", testPurgeDead},
		{"Listen", testListen},
	}
}

// A job inserted with every field set comes back from Claim with the same
// fields, its first attempt counted and a lease.
func testInsertAndClaimRoundTrip(t *testing.T, b pgqueue.Backend) {
	before := time.Now()
	first := pgqueue.InsertParams{Kind: kindA, Queue: "mail", Priority: 3, Args: json.RawMessage(`{"n":1,"s":"x y","nested":{"k":[1,2]}}`), MaxAttempts: 7}
	second := first
	second.Args = json.RawMessage(`{"n":2}`)
	ids := insert(t, b, first, second)
	require.NotEqual(t, ids[0], ids[1], "Insert must give every job its own ID")
	require.Less(t, ids[0], ids[1], "IDs must increase in the order jobs are inserted, so jobs of equal priority and run-at run first in, first out")

	rows := claim(t, b, "mail", 1, longLease, kindA)
	require.Len(t, rows, 1, "Claim with Limit 1 must return the one job it claimed")
	r := rows[0]
	require.Equal(t, ids[0], r.ID, "Claim must take the job inserted first")
	require.Equal(t, kindA, r.Kind, "claimed Kind")
	require.Equal(t, "mail", r.Queue, "claimed Queue")
	require.Equal(t, 3, r.Priority, "claimed Priority")
	require.JSONEq(t, string(first.Args), string(r.Args), "claimed Args must be the inserted JSON")
	require.Equal(t, 1, r.Attempt, "Claim must count the first attempt: Attempt 1")
	require.Equal(t, 7, r.MaxAttempts, "claimed MaxAttempts")
	require.Empty(t, r.Errors, "a job that never failed has no errors")
	require.WithinDuration(t, before, r.CreatedAt, clockSlack, "CreatedAt must be the insert time")
	require.WithinDuration(t, before, r.RunAt, clockSlack, "a zero RunAt means due now: RunAt must be the insert time")
	require.WithinDuration(t, time.Now(), r.AttemptedAt, clockSlack, "AttemptedAt must be the claim time")
	require.WithinDuration(t, r.AttemptedAt.Add(longLease), r.LeaseUntil, clockSlack, "LeaseUntil must be the claim time plus ClaimParams.Lease")

	rows = claim(t, b, "mail", 1, longLease, kindA)
	require.Len(t, rows, 1, "the second job must still be claimable")
	require.Equal(t, ids[1], rows[0].ID, "second claim")

	// A RunAt in the past is kept as it is and the job is due at once.
	past := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	old := job(kindB)
	old.RunAt = past
	id := insert(t, b, old)[0]
	r = claimOne(t, b, longLease, kindB)
	require.Equal(t, id, r.ID, "a job with a past RunAt is available at once")
	require.WithinDuration(t, past, r.RunAt, time.Millisecond, "a past RunAt must be stored as given")

	ids, err := b.Insert(context.Background(), nil)
	require.NoError(t, err, "Insert of no jobs must be a no-op, not an error")
	require.Empty(t, ids, "Insert of no jobs returns no IDs")
}

// Claim takes jobs in priority, then run-at, then ID order.
func testClaimOrder(t *testing.T, b pgqueue.Backend) {
	base := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	type spec struct {
		name     string
		priority int
		runAt    time.Time
	}
	specs := []spec{
		{"A", 5, base.Add(2 * time.Second)},
		{"B", 1, base.Add(3 * time.Second)},
		{"C", 5, base.Add(1 * time.Second)},
		{"D", 5, base.Add(1 * time.Second)}, // ties with C: ID decides
		{"E", 10, base},
		{"F", 1, base.Add(3 * time.Second)}, // ties with B: ID decides
		{"G", 2, base.Add(5 * time.Second)},
	}
	params := make([]pgqueue.InsertParams, len(specs))
	for i, s := range specs {
		params[i] = job(kindA)
		params[i].Priority = s.priority
		params[i].RunAt = s.runAt
		params[i].Args = json.RawMessage(`{"name":"` + s.name + `"}`)
	}
	ids := insert(t, b, params...)
	nameOf := map[int64]string{}
	for i, id := range ids {
		nameOf[id] = specs[i].name
	}
	order := slices.Clone(ids)
	idx := map[int64]int{}
	for i, id := range ids {
		idx[id] = i
	}
	slices.SortFunc(order, func(x, y int64) int {
		sx, sy := specs[idx[x]], specs[idx[y]]
		return cmp.Or(cmp.Compare(sx.priority, sy.priority), sx.runAt.Compare(sy.runAt), cmp.Compare(x, y))
	})
	var want, got []string
	for _, id := range order {
		want = append(want, nameOf[id])
	}
	for range ids {
		rows := claim(t, b, pgqueue.DefaultQueue, 1, longLease, kindA)
		require.Len(t, rows, 1, "Claim with Limit 1 must claim one job while any is available")
		got = append(got, nameOf[rows[0].ID])
	}
	require.Equal(t, want, got, "Claim (Limit 1, repeated) must take jobs by priority ascending, then run-at ascending, then ID ascending")
	requireNothingClaimable(t, b, pgqueue.DefaultQueue, "every job was claimed", kindA)
}

// Claim returns at most Limit jobs and claims no more than it returns.
func testClaimLimit(t *testing.T, b pgqueue.Backend) {
	params := make([]pgqueue.InsertParams, 5)
	for i := range params {
		params[i] = job(kindA)
	}
	ids := insert(t, b, params...)
	first := claim(t, b, pgqueue.DefaultQueue, 3, longLease, kindA)
	require.Len(t, first, 3, "Claim with Limit 3 and 5 available jobs must claim exactly 3")
	second := claim(t, b, pgqueue.DefaultQueue, 3, longLease, kindA)
	require.Len(t, second, 2, "the 2 jobs the first claim left must still be claimable: Claim must not claim more than it returns")
	require.ElementsMatch(t, ids, append(rowIDs(first), rowIDs(second)...), "the two claims together must take every job once")
	requireNothingClaimable(t, b, pgqueue.DefaultQueue, "all 5 jobs are running", kindA)
}

// Jobs whose kind is not in ClaimParams.Kinds are never claimed, and are
// left untouched for the client that does work them.
func testClaimKindFilter(t *testing.T, b pgqueue.Backend) {
	ids := insert(t, b, job(kindA), job(kindB), job(kindA), job(kindC))
	rows := claim(t, b, pgqueue.DefaultQueue, 10, longLease, kindA)
	require.ElementsMatch(t, []int64{ids[0], ids[2]}, rowIDs(rows), "Claim with Kinds [%s] must claim exactly the two jobs of that kind", kindA)
	for _, r := range rows {
		require.Equal(t, kindA, r.Kind, "Claim returned a job of a kind it was not asked for")
	}
	requireNothingClaimable(t, b, pgqueue.DefaultQueue, "Claim with an empty Kinds list matches no kind")
	rows = claim(t, b, pgqueue.DefaultQueue, 10, longLease, kindB, kindC, "queuetest.unused")
	require.ElementsMatch(t, []int64{ids[1], ids[3]}, rowIDs(rows), "Claim with Kinds [%s %s] must claim the job of each", kindB, kindC)
	for _, r := range rows {
		require.Equal(t, 1, r.Attempt, "a job skipped by earlier claims of other kinds must not have spent an attempt (job %d, kind %s)", r.ID, r.Kind)
	}
}

// Claim takes jobs of ClaimParams.Queue only.
func testClaimQueueIsolation(t *testing.T, b pgqueue.Backend) {
	inQ1, inQ2 := job(kindA), job(kindA)
	inQ1.Queue, inQ2.Queue = "q1", "q2"
	ids := insert(t, b, inQ1, inQ2)
	requireNothingClaimable(t, b, pgqueue.DefaultQueue, "no job was put in the default queue", kindA)
	rows := claim(t, b, "q1", 10, longLease, kindA)
	require.Equal(t, []int64{ids[0]}, rowIDs(rows), "Claim on queue q1 must take only the q1 job")
	rows = claim(t, b, "q2", 10, longLease, kindA)
	require.Equal(t, []int64{ids[1]}, rowIDs(rows), "Claim on queue q2 must take only the q2 job")
}

// A job with a future RunAt is not claimable, not even after PromoteDue,
// until it is due and PromoteDue has run; the promotion that makes it
// available names its queue.
func testScheduledJobWaitsForPromoteDue(t *testing.T, b pgqueue.Backend) {
	const delay = 500 * time.Millisecond
	p := job(kindA)
	p.RunAt = time.Now().Add(delay)
	id := insert(t, b, p)[0]
	requireNothingClaimable(t, b, pgqueue.DefaultQueue, "the job's RunAt is in the future", kindA)
	res := promote(t, b)
	if time.Now().Before(p.RunAt.Add(-earlyTolerance)) {
		require.Empty(t, res.Queues, "PromoteDue before the job is due must promote nothing")
		require.True(t, res.HasNext, "PromoteDue must report the scheduled job in HasNext")
		require.Greater(t, res.NextIn, time.Duration(0), "NextIn must be positive while the job is not due")
		require.LessOrEqual(t, res.NextIn, delay+earlyTolerance, "NextIn must be at most the job's delay")
		requireNothingClaimable(t, b, pgqueue.DefaultQueue, "the job is still not due", kindA)
	}
	waitFor(t, "PromoteDue to promote the job once its RunAt passed", func() bool {
		res = promote(t, b)
		return len(res.Queues) > 0
	})
	require.Equal(t, []string{pgqueue.DefaultQueue}, res.Queues, "PromoteDue must list the queue it made a job available in, once")
	require.False(t, time.Now().Before(p.RunAt.Add(-earlyTolerance)), "PromoteDue promoted the job %v before its RunAt", time.Until(p.RunAt))
	require.False(t, res.HasNext, "no job is scheduled any more")
	r := claimOne(t, b, longLease, kindA)
	require.Equal(t, id, r.ID, "the promoted job must be claimable")
	require.Equal(t, 1, r.Attempt, "waiting as scheduled spends no attempt")
	require.WithinDuration(t, p.RunAt, r.RunAt, time.Millisecond, "promotion must keep the job's RunAt")
}

// PromoteDue says when the next scheduled job falls due, and lists each
// queue it promoted jobs into once.
func testPromoteDueResult(t *testing.T, b pgqueue.Backend) {
	res := promote(t, b)
	require.False(t, res.HasNext, "an empty backend has no scheduled job: HasNext must be false")
	require.Empty(t, res.Queues, "an empty backend promotes nothing")

	inAnHour, inTenMinutes := job(kindA), job(kindA)
	inAnHour.RunAt = time.Now().Add(time.Hour)
	inTenMinutes.RunAt = time.Now().Add(10 * time.Minute)
	insert(t, b, inAnHour, inTenMinutes)
	res = promote(t, b)
	require.Empty(t, res.Queues, "nothing is due yet")
	require.True(t, res.HasNext, "two jobs are scheduled: HasNext must be true")
	require.InDelta(t, float64(10*time.Minute), float64(res.NextIn), float64(clockSlack), "NextIn must be the time until the earliest scheduled job (10m), got %v", res.NextIn)

	// Three jobs in two queues fall due shortly: each queue is named once
	// per call, and together the calls name both.
	var refs []pgqueue.JobRef
	for _, q := range []string{"qa", "qa", "qb"} {
		p := job(kindB)
		p.Queue = q
		insert(t, b, p)
		refs = append(refs, claim(t, b, q, 1, longLease, kindB)[0].Ref())
	}
	for _, ref := range refs {
		require.NoError(t, b.Reschedule(context.Background(), ref, pgqueue.RescheduleParams{Delay: 30 * time.Millisecond}))
	}
	seen := map[string]bool{}
	waitFor(t, "PromoteDue to promote the jobs rescheduled 30ms ahead in queues qa and qb", func() bool {
		res := promote(t, b)
		require.Len(t, res.Queues, len(slices.Compact(slices.Sorted(slices.Values(res.Queues)))), "PromoteDue must list each queue once, got %v", res.Queues)
		for _, q := range res.Queues {
			seen[q] = true
		}
		return seen["qa"] && seen["qb"]
	})
	require.Len(t, seen, 2, "only queues qa and qb received promoted jobs, got %v", seen)
	require.Len(t, claim(t, b, "qa", 10, longLease, kindB), 2, "both promoted qa jobs must be claimable")
	require.Len(t, claim(t, b, "qb", 10, longLease, kindB), 1, "the promoted qb job must be claimable")
	res = promote(t, b)
	require.True(t, res.HasNext, "the two far-future jobs are still scheduled")
	require.InDelta(t, float64(10*time.Minute), float64(res.NextIn), float64(clockSlack), "NextIn must still be about 10m, got %v", res.NextIn)
}

// A completed job is gone: not claimable, not dead, not rescued when its
// old lease would have ended, and its ref is lost for every later call.
func testCompleteRemovesJob(t *testing.T, b pgqueue.Backend) {
	const lease = 200 * time.Millisecond
	insert(t, b, job(kindA))
	start := time.Now()
	r := claimOne(t, b, lease, kindA)
	lost, err := b.Complete(context.Background(), []pgqueue.JobRef{r.Ref()})
	require.NoError(t, err, "Complete of a held job must succeed")
	require.Empty(t, lost, "Complete of a job held under its token must not report it lost")
	requireNothingClaimable(t, b, pgqueue.DefaultQueue, "the only job was completed", kindA)
	sleepUntil(start.Add(lease + 100*time.Millisecond))
	res := rescue(t, b)
	require.Zero(t, res.Requeued+res.DeadLettered, "Rescue must not touch a completed job even after its old lease ended: %+v", res)
	requireNothingClaimable(t, b, pgqueue.DefaultQueue, "a completed job never comes back", kindA)
	require.Empty(t, listDead(t, b, pgqueue.DeadFilter{}), "a completed job is not dead")

	// A later batch holding the completed ref reports it lost. (A resend of
	// the very same batch may instead answer as the first call did:
	// redisqueue keeps each batch's answer briefly so that a completion
	// whose reply was lost is not reported lost when resent.)
	unknown := pgqueue.JobRef{ID: r.ID + 2_000_000, Token: r.Token}
	lost, err = b.Complete(context.Background(), []pgqueue.JobRef{r.Ref(), unknown})
	require.NoError(t, err, "Complete reports finished jobs as lost, not as an error")
	require.Equal(t, []pgqueue.JobRef{r.Ref(), unknown}, lost, "completing a job again in another batch must report it lost")
	lost, err = b.Heartbeat(context.Background(), []pgqueue.JobRef{r.Ref()}, longLease)
	require.NoError(t, err)
	require.Equal(t, []pgqueue.JobRef{r.Ref()}, lost, "Heartbeat of a completed job must report it lost")
	lost, err = b.Complete(context.Background(), []pgqueue.JobRef{{ID: r.ID + 1_000_000, Token: r.Token}})
	require.NoError(t, err)
	require.Len(t, lost, 1, "Complete of an unknown job ID must report it lost")

	lost, err = b.Complete(context.Background(), nil)
	require.NoError(t, err, "Complete of no refs is a no-op")
	require.Empty(t, lost)
	lost, err = b.Heartbeat(context.Background(), nil, longLease)
	require.NoError(t, err, "Heartbeat of no refs is a no-op")
	require.Empty(t, lost)
}

// Every method that takes a JobRef matches on the token too: with a token
// the job is not held under, batches report the ref lost and single-job
// calls return ErrLeaseLost, and nothing changes.
func testTokenFencing(t *testing.T, b pgqueue.Backend) {
	ctx := context.Background()
	insert(t, b, job(kindA), job(kindA))
	rows := claim(t, b, pgqueue.DefaultQueue, 2, longLease, kindA)
	require.Len(t, rows, 2)
	held, other := rows[0], rows[1]
	stale := pgqueue.JobRef{ID: held.ID, Token: held.Token + 7919}

	lost, err := b.Complete(ctx, []pgqueue.JobRef{stale})
	require.NoError(t, err, "Complete with a wrong token reports the ref lost, not an error")
	require.Equal(t, []pgqueue.JobRef{stale}, lost, "Complete with a wrong token must report the ref lost")
	lost, err = b.Heartbeat(ctx, []pgqueue.JobRef{stale}, longLease)
	require.NoError(t, err, "Heartbeat with a wrong token reports the ref lost, not an error")
	require.Equal(t, []pgqueue.JobRef{stale}, lost, "Heartbeat with a wrong token must report the ref lost")

	err = b.Reschedule(ctx, stale, pgqueue.RescheduleParams{Error: &pgqueue.AttemptError{Attempt: 1, Kind: "error", Error: "stale"}})
	require.ErrorIs(t, err, pgqueue.ErrLeaseLost, "Reschedule with a wrong token must return ErrLeaseLost")
	err = b.Reschedule(ctx, stale, pgqueue.RescheduleParams{RefundAttempt: true})
	require.ErrorIs(t, err, pgqueue.ErrLeaseLost, "Reschedule (refund) with a wrong token must return ErrLeaseLost")
	err = b.DeadLetter(ctx, stale, pgqueue.AttemptError{Attempt: 1, Kind: "permanent", Error: "stale"})
	require.ErrorIs(t, err, pgqueue.ErrLeaseLost, "DeadLetter with a wrong token must return ErrLeaseLost")
	err = b.DeadLetter(ctx, pgqueue.JobRef{ID: held.ID + 1_000_000, Token: held.Token}, pgqueue.AttemptError{Attempt: 1, Kind: "permanent", Error: "unknown"})
	require.ErrorIs(t, err, pgqueue.ErrLeaseLost, "DeadLetter of an unknown job ID must return ErrLeaseLost")

	// Nothing changed: the job is still running under its real token.
	require.Empty(t, listDead(t, b, pgqueue.DeadFilter{}), "a DeadLetter with a wrong token must not dead-letter the job")
	requireNothingClaimable(t, b, pgqueue.DefaultQueue, "Reschedule with a wrong token must not put the job back", kindA)
	lost, err = b.Heartbeat(ctx, []pgqueue.JobRef{held.Ref()}, longLease)
	require.NoError(t, err)
	require.Empty(t, lost, "after calls with a wrong token, the real holder must still hold the job")

	// A batch reports exactly the refs that are lost, in any order.
	lost, err = b.Complete(ctx, []pgqueue.JobRef{held.Ref(), stale, other.Ref()})
	require.NoError(t, err)
	require.Equal(t, []pgqueue.JobRef{stale}, lost, "a batch Complete must report only the stale ref lost and complete the others")
	requireNothingClaimable(t, b, pgqueue.DefaultQueue, "both jobs were completed", kindA)
}

// While a lease is valid a job is never handed to two claimers: eight
// goroutines claiming concurrently from 200 jobs get every job exactly once.
func testConcurrentClaimsNeverShareAJob(t *testing.T, b pgqueue.Backend) {
	const jobs, claimers = 200, 8
	params := make([]pgqueue.InsertParams, jobs)
	for i := range params {
		params[i] = job(kindA)
	}
	ids := insert(t, b, params...)

	var mu sync.Mutex
	counts := map[int64]int{}
	total := 0
	var errs []error
	var wg sync.WaitGroup
	deadline := time.Now().Add(waitTimeout)
	for c := range claimers {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				mu.Lock()
				done := total >= jobs
				mu.Unlock()
				if done {
					return
				}
				rows, err := b.Claim(context.Background(), pgqueue.ClaimParams{Queue: pgqueue.DefaultQueue, Kinds: []string{kindA}, Limit: 7, Lease: longLease, ClientID: fmt.Sprintf("claimer-%d", c)})
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				}
				for _, r := range rows {
					counts[r.ID]++
					total++
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	require.Empty(t, errs, "concurrent Claims must not fail")
	for id, n := range counts {
		require.Equal(t, 1, n, "job %d was handed to %d claimers while its lease was valid", id, n)
	}
	require.Len(t, counts, jobs, "every one of the %d jobs must be claimed by some claimer", jobs)
	for _, id := range ids {
		require.Contains(t, counts, id, "job %d was never claimed", id)
	}
	requireNothingClaimable(t, b, pgqueue.DefaultQueue, "every job is running under a valid lease", kindA)
	res := rescue(t, b)
	require.Zero(t, res.Requeued+res.DeadLettered, "Rescue must not touch jobs whose lease is valid: %+v", res)
}

// Heartbeat moves the lease forward: a job whose first lease has ended
// but was extended is not rescued.
func testHeartbeatExtendsLease(t *testing.T, b pgqueue.Backend) {
	const lease = 300 * time.Millisecond
	insert(t, b, job(kindA))
	start := time.Now()
	r := claimOne(t, b, lease, kindA)
	lost, err := b.Heartbeat(context.Background(), []pgqueue.JobRef{r.Ref()}, longLease)
	require.NoError(t, err, "Heartbeat of a held job must succeed")
	require.Empty(t, lost, "Heartbeat of a job held under its token must not report it lost")
	sleepUntil(start.Add(lease + 150*time.Millisecond))
	res := rescue(t, b)
	require.Zero(t, res.Requeued+res.DeadLettered, "Rescue must not touch a job whose lease a heartbeat extended: %+v", res)
	requireNothingClaimable(t, b, pgqueue.DefaultQueue, "the job's extended lease is still valid", kindA)
	lost, err = b.Heartbeat(context.Background(), []pgqueue.JobRef{r.Ref()}, longLease)
	require.NoError(t, err)
	require.Empty(t, lost, "the job must still be held after its first lease would have ended")
}

// A job whose lease ended is made available again by Rescue with the
// lease_expired error appended; it is claimed with a new token, and the
// old token is lost for every call.
func testExpiredLeaseIsRescued(t *testing.T, b pgqueue.Backend) {
	ctx := context.Background()
	const lease = 300 * time.Millisecond
	id := insert(t, b, job(kindA))[0]
	start := time.Now()
	old := claimOne(t, b, lease, kindA)
	res := rescue(t, b)
	if time.Since(start) < lease-100*time.Millisecond {
		require.Zero(t, res.Requeued+res.DeadLettered, "Rescue must not touch a job whose lease is still valid: %+v", res)
	}
	waitFor(t, "Rescue to requeue the job after its 300ms lease ended", func() bool {
		res = rescue(t, b)
		return res.Requeued+res.DeadLettered > 0
	})
	require.GreaterOrEqual(t, time.Since(start), lease-earlyTolerance, "Rescue requeued the job before its lease ended")
	require.Equal(t, 1, res.Requeued, "the job has attempts left: Rescue must requeue it")
	require.Zero(t, res.DeadLettered, "the job has attempts left: Rescue must not dead-letter it")
	require.Equal(t, []string{pgqueue.DefaultQueue}, res.Queues, "Rescue must name the queue it made a job available in")

	again := claimOne(t, b, longLease, kindA)
	require.Equal(t, id, again.ID, "the rescued job must be claimable again")
	require.NotEqual(t, old.Token, again.Token, "a new claim must get a new lease token")
	require.Equal(t, 2, again.Attempt, "the crashed attempt counts: the new claim is attempt 2")
	require.Len(t, again.Errors, 1, "Rescue must append one error to the job's history")
	want := rescueInfo
	want.Attempt = 1
	requireSameError(t, want, again.Errors[0], "the error Rescue appends is the one it was given, stamped with the attempt that was lost (1)")

	lost, err := b.Complete(ctx, []pgqueue.JobRef{old.Ref()})
	require.NoError(t, err)
	require.Equal(t, []pgqueue.JobRef{old.Ref()}, lost, "Complete with the token of the expired claim must report it lost")
	lost, err = b.Heartbeat(ctx, []pgqueue.JobRef{old.Ref()}, longLease)
	require.NoError(t, err)
	require.Equal(t, []pgqueue.JobRef{old.Ref()}, lost, "Heartbeat with the token of the expired claim must report it lost")
	require.ErrorIs(t, b.Reschedule(ctx, old.Ref(), pgqueue.RescheduleParams{}), pgqueue.ErrLeaseLost, "Reschedule with the token of the expired claim")
	require.ErrorIs(t, b.DeadLetter(ctx, old.Ref(), pgqueue.AttemptError{Attempt: 1, Kind: "error", Error: "late"}), pgqueue.ErrLeaseLost, "DeadLetter with the token of the expired claim")
	require.Empty(t, listDead(t, b, pgqueue.DeadFilter{}), "the stale holder's DeadLetter must change nothing")

	lost, err = b.Heartbeat(ctx, []pgqueue.JobRef{again.Ref()}, longLease)
	require.NoError(t, err)
	require.Empty(t, lost, "the new holder still holds the job after the stale holder's calls")
	lost, err = b.Complete(ctx, []pgqueue.JobRef{again.Ref()})
	require.NoError(t, err)
	require.Empty(t, lost, "the new holder completes the job")
}

// Rescue dead-letters a job whose lease ended on its last attempt, and
// requeues one with attempts left, in the same call.
func testRescueDeadLettersExhaustedJobs(t *testing.T, b pgqueue.Backend) {
	const lease = 200 * time.Millisecond
	last, more := job(kindA), job(kindB)
	last.MaxAttempts, more.MaxAttempts = 1, 2
	ids := insert(t, b, last, more)
	rows := claim(t, b, pgqueue.DefaultQueue, 10, lease, kindA, kindB)
	require.Len(t, rows, 2)
	var total pgqueue.RescueResult
	waitFor(t, "Rescue to handle both jobs after their 200ms lease ended", func() bool {
		res := rescue(t, b)
		total.Requeued += res.Requeued
		total.DeadLettered += res.DeadLettered
		return total.Requeued+total.DeadLettered >= 2
	})
	require.Equal(t, 1, total.DeadLettered, "the job on its last attempt (MaxAttempts 1) must be dead-lettered")
	require.Equal(t, 1, total.Requeued, "the job with an attempt left (MaxAttempts 2) must be requeued")

	d := deadByID(t, b, ids[0])
	require.NotNil(t, d, "the exhausted job must be in the dead-letter store")
	require.Equal(t, kindA, d.Kind)
	require.Equal(t, 1, d.Attempt, "the dead job used its one attempt")
	require.Len(t, d.Errors, 1, "the dead job's history holds the lease_expired error")
	require.Equal(t, "lease_expired", d.Errors[0].Kind, "dead job error kind")
	require.Equal(t, 1, d.Errors[0].Attempt, "the lease_expired error is stamped with the lost attempt")
	requireNothingClaimable(t, b, pgqueue.DefaultQueue, "a dead-lettered job is no longer in the queue", kindA)
	r := claimOne(t, b, longLease, kindB)
	require.Equal(t, ids[1], r.ID, "the job with attempts left is claimable again")
	require.Nil(t, deadByID(t, b, ids[1]), "the requeued job must not be dead")
}

// Rescues running concurrently (as from several clients) handle each
// expired job once: it is requeued once, with one error appended.
func testConcurrentRescuesCountEachJobOnce(t *testing.T, b pgqueue.Backend) {
	const jobs, rescuers = 20, 4
	const lease = 150 * time.Millisecond
	params := make([]pgqueue.InsertParams, jobs)
	for i := range params {
		params[i] = job(kindA)
	}
	insert(t, b, params...)
	start := time.Now()
	require.Len(t, claim(t, b, pgqueue.DefaultQueue, jobs, lease, kindA), jobs)
	sleepUntil(start.Add(lease + 100*time.Millisecond))

	var mu sync.Mutex
	var requeued int
	var errs []error
	var wg sync.WaitGroup
	for range rescuers {
		wg.Go(func() {
			res, err := b.Rescue(context.Background(), rescueInfo)
			mu.Lock()
			defer mu.Unlock()
			requeued += res.Requeued + res.DeadLettered
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	require.Empty(t, errs, "concurrent Rescues must not fail (one that finds another in progress returns a zero result)")
	waitFor(t, "Rescue to requeue all 20 expired jobs", func() bool {
		if requeued >= jobs {
			return true
		}
		res := rescue(t, b)
		requeued += res.Requeued + res.DeadLettered
		return requeued >= jobs
	})
	require.Equal(t, jobs, requeued, "concurrent Rescues together must requeue each of the %d expired jobs exactly once", jobs)
	rows := claim(t, b, pgqueue.DefaultQueue, 100, longLease, kindA)
	require.Len(t, rows, jobs, "every rescued job must be claimable")
	for _, r := range rows {
		require.Equal(t, 2, r.Attempt, "job %d was rescued once, so this is attempt 2", r.ID)
		require.Len(t, r.Errors, 1, "job %d must carry exactly one lease_expired error, not one per Rescue call", r.ID)
	}
	res := rescue(t, b)
	require.Zero(t, res.Requeued+res.DeadLettered, "no lease is expired any more: %+v", res)
}

// Reschedule puts a running job back: at once or after a delay, with an
// error appended, and with or without refunding the attempt.
func testReschedule(t *testing.T, b pgqueue.Backend) {
	ctx := context.Background()
	id := insert(t, b, job(kindA))[0]

	// Refund: a snooze or shutdown release spends no attempt.
	r1 := claimOne(t, b, longLease, kindA)
	require.Equal(t, 1, r1.Attempt)
	require.NoError(t, b.Reschedule(ctx, r1.Ref(), pgqueue.RescheduleParams{RefundAttempt: true}), "Reschedule of a held job must succeed")
	require.ErrorIs(t, b.Reschedule(ctx, r1.Ref(), pgqueue.RescheduleParams{}), pgqueue.ErrLeaseLost, "a rescheduled job is no longer held: a second Reschedule with the same ref must return ErrLeaseLost")
	r2 := claimOne(t, b, longLease, kindA)
	require.Equal(t, id, r2.ID, "a job rescheduled with no delay must be available at once")
	require.Equal(t, 1, r2.Attempt, "RefundAttempt must give back the attempt the claim counted")
	require.Empty(t, r2.Errors, "a Reschedule without Error must not add to the history")
	require.NotEqual(t, r1.Token, r2.Token, "a new claim must get a new token, never one used before for the job")
	lost, err := b.Complete(ctx, []pgqueue.JobRef{r1.Ref()})
	require.NoError(t, err)
	require.Equal(t, []pgqueue.JobRef{r1.Ref()}, lost, "the first claim's token must be lost after the job was rescheduled and claimed again")

	// A failure: the attempt is spent and the error recorded.
	e1 := pgqueue.AttemptError{Attempt: 1, At: time.Now().UTC(), Kind: "error", Error: "first failure"}
	require.NoError(t, b.Reschedule(ctx, r2.Ref(), pgqueue.RescheduleParams{Error: &e1}))
	r3 := claimOne(t, b, longLease, kindA)
	require.Equal(t, 2, r3.Attempt, "a Reschedule without RefundAttempt keeps the attempt spent")
	require.Len(t, r3.Errors, 1, "Reschedule with Error must append it to the history")
	requireSameError(t, e1, r3.Errors[0], "rescheduled error")

	// A delay: scheduled, not claimable until due and promoted.
	const delay = 300 * time.Millisecond
	start := time.Now()
	require.NoError(t, b.Reschedule(ctx, r3.Ref(), pgqueue.RescheduleParams{Delay: delay}))
	requireNothingClaimable(t, b, pgqueue.DefaultQueue, "the job was rescheduled 300ms ahead", kindA)
	res := promote(t, b)
	if time.Since(start) < delay-100*time.Millisecond {
		require.Empty(t, res.Queues, "the rescheduled job is not due yet")
		require.True(t, res.HasNext, "the rescheduled job is scheduled: HasNext")
		require.LessOrEqual(t, res.NextIn, delay+earlyTolerance, "NextIn must be at most the Reschedule delay")
	}
	waitFor(t, "the job rescheduled 300ms ahead to be promoted", func() bool {
		return len(promote(t, b).Queues) > 0
	})
	require.GreaterOrEqual(t, time.Since(start), delay-earlyTolerance, "the job was promoted before its delay passed")
	r4 := claimOne(t, b, longLease, kindA)
	require.Equal(t, id, r4.ID)
	require.Equal(t, 3, r4.Attempt, "third run")
	require.Len(t, r4.Errors, 1, "a delayed Reschedule without Error adds nothing to the history")

	// KeepRunAt: a job released without having run keeps its run time
	// (its place in the queue, its ScheduledAt); without it, a job put
	// back at once is due from now.
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, b.Reschedule(ctx, r4.Ref(), pgqueue.RescheduleParams{RefundAttempt: true, KeepRunAt: true}))
	r5 := claimOne(t, b, longLease, kindA)
	require.Equal(t, id, r5.ID)
	require.True(t, r5.RunAt.Equal(r4.RunAt), "Reschedule with KeepRunAt must keep the job's run time: it was %v, it is %v", r4.RunAt, r5.RunAt)
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, b.Reschedule(ctx, r5.Ref(), pgqueue.RescheduleParams{RefundAttempt: true}))
	r6 := claimOne(t, b, longLease, kindA)
	require.True(t, r6.RunAt.After(r5.RunAt), "Reschedule without KeepRunAt and no delay makes the job due from now: run time %v, before %v", r6.RunAt, r5.RunAt)
}

// A Releaser puts back, in one call, the jobs still held under their
// tokens, as Reschedule with RefundAttempt and KeepRunAt would: available
// again, the attempt given back, the run time kept. A stale token's job is
// left alone and not returned. Backends without Releaser skip it.
func testReleasePutsBackOnlyJobsStillHeld(t *testing.T, b pgqueue.Backend) {
	rel, ok := b.(pgqueue.Releaser)
	if !ok {
		t.Skipf("%T does not implement pgqueue.Releaser", b)
	}
	ctx := context.Background()
	insert(t, b, job(kindA), job(kindA))
	rows := claim(t, b, pgqueue.DefaultQueue, 10, longLease, kindA)
	require.Len(t, rows, 2, "both jobs claimed")
	held, stale := rows[0].Ref(), rows[1].Ref()
	stale.Token++ // a ref from another claim of the job

	released, err := rel.Release(ctx, []pgqueue.JobRef{held, stale})
	require.NoError(t, err)
	require.Equal(t, []int64{held.ID}, released, "only the job still held under its token is released")
	again := claimOne(t, b, longLease, kindA)
	require.Equal(t, held.ID, again.ID, "the released job is available again; the other still runs under its claim")
	require.Equal(t, 1, again.Attempt, "a released job gets its attempt back: claimed again, it is on attempt 1")
	require.True(t, again.RunAt.Equal(rows[0].RunAt), "a released job keeps its run time: it was %v, it is %v", rows[0].RunAt, again.RunAt)

	none, err := rel.Release(ctx, nil)
	require.NoError(t, err, "releasing nothing is no error")
	require.Empty(t, none)
}

// DeadLetter moves a job to the dead-letter store with every attempt's
// error, in attempt order, and all its fields.
func testDeadLetterKeepsErrorHistory(t *testing.T, b pgqueue.Backend) {
	ctx := context.Background()
	p := pgqueue.InsertParams{Kind: kindA, Queue: "mail", Priority: 2, Args: json.RawMessage(`{"to":"a@example.com","n":3}`), MaxAttempts: 3}
	id := insert(t, b, p)[0]
	at := time.Now().UTC().Truncate(time.Millisecond)
	history := []pgqueue.AttemptError{
		{Attempt: 1, At: at, Kind: "error", Error: "smtp: connection refused"},
		{Attempt: 2, At: at.Add(time.Second), Kind: "panic", Error: "panic: nil map", Stack: "goroutine 7 [running]:\nmain.work()\n\t/x.go:1"},
		{Attempt: 3, At: at.Add(2 * time.Second), Kind: "permanent", Error: "permanent: mailbox does not exist ✉ \"quoted\""},
	}
	var first *pgqueue.JobRow
	for i, e := range history[:2] {
		rows := claim(t, b, "mail", 1, longLease, kindA)
		require.Len(t, rows, 1)
		if first == nil {
			first = rows[0]
		}
		require.Len(t, rows[0].Errors, i, "attempt %d must see the errors of the attempts before it", i+1)
		require.NoError(t, b.Reschedule(ctx, rows[0].Ref(), pgqueue.RescheduleParams{Error: &e}))
	}
	rows := claim(t, b, "mail", 1, longLease, kindA)
	require.Len(t, rows, 1)
	last := rows[0]
	require.Equal(t, 3, last.Attempt)
	require.NoError(t, b.DeadLetter(ctx, last.Ref(), history[2]), "DeadLetter of a held job must succeed")

	requireNothingClaimable(t, b, "mail", "the job was dead-lettered", kindA)
	require.ErrorIs(t, b.DeadLetter(ctx, last.Ref(), history[2]), pgqueue.ErrLeaseLost, "a dead job is no longer held: a second DeadLetter must return ErrLeaseLost")
	lost, err := b.Complete(ctx, []pgqueue.JobRef{last.Ref()})
	require.NoError(t, err)
	require.Equal(t, []pgqueue.JobRef{last.Ref()}, lost, "Complete of a dead job must report it lost")

	dead := listDead(t, b, pgqueue.DeadFilter{})
	require.Len(t, dead, 1, "ListDead must return the dead-lettered job")
	d := dead[0]
	require.Equal(t, id, d.ID, "a dead job keeps its ID")
	require.Equal(t, kindA, d.Kind)
	require.Equal(t, "mail", d.Queue)
	require.Equal(t, 2, d.Priority)
	require.JSONEq(t, string(p.Args), string(d.Args), "a dead job keeps its args")
	require.Equal(t, 3, d.Attempt, "a dead job keeps its attempt count")
	require.Equal(t, 3, d.MaxAttempts)
	require.WithinDuration(t, first.CreatedAt, d.CreatedAt, time.Millisecond, "a dead job keeps its CreatedAt")
	require.WithinDuration(t, time.Now(), d.DiedAt, clockSlack, "DiedAt must be the dead-letter time")
	require.False(t, d.DiedAt.Before(d.CreatedAt), "DiedAt must not be before CreatedAt")
	require.Len(t, d.Errors, 3, "the dead job must keep every attempt's error")
	for i := range history {
		requireSameError(t, history[i], d.Errors[i], "dead job error ", i, " (errors must be oldest first)")
	}
}

// ListDead filters by kind, queue, IDs and time, returns newest first, and
// honours Limit.
func testListDeadFilters(t *testing.T, b pgqueue.Backend) {
	a1, a2, b1 := job(kindA), job(kindA), job(kindB)
	a1.Queue, a2.Queue, b1.Queue = "q1", "q2", "q1"
	// 20ms apart so that DiedAt orders them on any clock resolution.
	ids := kill(t, b, 20*time.Millisecond, a1, a2, b1)

	all := listDead(t, b, pgqueue.DeadFilter{})
	require.Equal(t, reversed(ids), deadIDs(all), "ListDead must return every dead job, newest first")
	for i := 1; i < len(all); i++ {
		require.False(t, all[i].DiedAt.After(all[i-1].DiedAt), "ListDead must order by DiedAt, newest first")
	}
	require.Equal(t, []int64{ids[1], ids[0]}, deadIDs(listDead(t, b, pgqueue.DeadFilter{Kind: kindA})), "filter by Kind")
	require.Equal(t, []int64{ids[2], ids[0]}, deadIDs(listDead(t, b, pgqueue.DeadFilter{Queue: "q1"})), "filter by Queue")
	require.Equal(t, []int64{ids[0]}, deadIDs(listDead(t, b, pgqueue.DeadFilter{Kind: kindA, Queue: "q1"})), "filters combine with AND")
	require.Equal(t, []int64{ids[2], ids[0]}, deadIDs(listDead(t, b, pgqueue.DeadFilter{IDs: []int64{ids[0], ids[2], ids[2] + 1_000_000}})), "filter by IDs (unknown IDs match nothing)")
	require.Empty(t, listDead(t, b, pgqueue.DeadFilter{Kind: "queuetest.none"}), "a Kind no dead job has matches nothing")
	require.Empty(t, listDead(t, b, pgqueue.DeadFilter{Queue: "none"}), "a Queue no dead job is in matches nothing")
	require.Empty(t, listDead(t, b, pgqueue.DeadFilter{IDs: []int64{ids[2] + 1_000_000}}), "an unknown ID matches nothing")
	require.Equal(t, []int64{ids[2], ids[1]}, deadIDs(listDead(t, b, pgqueue.DeadFilter{Limit: 2})), "Limit 2 must return the 2 newest")
	require.Equal(t, []int64{ids[1]}, deadIDs(listDead(t, b, pgqueue.DeadFilter{Kind: kindA, Limit: 1})), "Limit applies after the filters")

	// Cut between the first and second deaths, on the backend's clock.
	cut := all[2].DiedAt.Add(all[1].DiedAt.Sub(all[2].DiedAt) / 2)
	require.Equal(t, []int64{ids[2], ids[1]}, deadIDs(listDead(t, b, pgqueue.DeadFilter{DiedAfter: cut})), "DiedAfter keeps the jobs that died after it")
	require.Equal(t, []int64{ids[0]}, deadIDs(listDead(t, b, pgqueue.DeadFilter{DiedBefore: cut})), "DiedBefore keeps the jobs that died before it")
	require.Equal(t, []int64{ids[1]}, deadIDs(listDead(t, b, pgqueue.DeadFilter{DiedAfter: cut, Kind: kindA})), "DiedAfter combines with Kind")
}

// ListDead with Limit 0 returns at most 100 jobs.
func testListDeadDefaultLimit(t *testing.T, b pgqueue.Backend) {
	const n = 101
	params := make([]pgqueue.InsertParams, n)
	for i := range params {
		params[i] = job(kindA)
	}
	ids := insert(t, b, params...)
	rows := claim(t, b, pgqueue.DefaultQueue, n, longLease, kindA)
	require.Len(t, rows, n)
	for _, r := range rows {
		require.NoError(t, b.DeadLetter(context.Background(), r.Ref(), pgqueue.AttemptError{Attempt: 1, Kind: "permanent", Error: "bulk"}))
	}
	require.Len(t, listDead(t, b, pgqueue.DeadFilter{}), 100, "ListDead with Limit 0 must return 100 jobs at most")
	require.Len(t, listDead(t, b, pgqueue.DeadFilter{Limit: 1000}), n, "ListDead with a Limit above the count returns every dead job")
	require.Len(t, listDead(t, b, pgqueue.DeadFilter{IDs: ids[:3]}), 3, "IDs filter on a large store")
}

// RequeueDead moves dead jobs back to their queues with their attempt
// count reset and their error history kept.
func testRequeueDead(t *testing.T, b pgqueue.Backend) {
	ctx := context.Background()
	p := job(kindA)
	p.Queue, p.MaxAttempts, p.Priority = "q1", 4, 3
	ids := kill(t, b, 0, p, job(kindB))
	n, err := b.RequeueDead(ctx, []int64{ids[0], ids[0] + 1_000_000})
	require.NoError(t, err, "RequeueDead must skip unknown IDs, not fail")
	require.Equal(t, 1, n, "RequeueDead must count only the job it moved")
	require.Nil(t, deadByID(t, b, ids[0]), "a requeued job leaves the dead-letter store")
	require.NotNil(t, deadByID(t, b, ids[1]), "a dead job not named stays dead")

	rows := claim(t, b, "q1", 10, longLease, kindA)
	require.Len(t, rows, 1, "the requeued job must be available in its own queue")
	r := rows[0]
	require.Equal(t, ids[0], r.ID, "a requeued job keeps its ID")
	require.Equal(t, 1, r.Attempt, "RequeueDead resets the attempt count: the next claim is attempt 1")
	require.Equal(t, 4, r.MaxAttempts, "a requeued job keeps MaxAttempts")
	require.Equal(t, 3, r.Priority, "a requeued job keeps its priority")
	require.JSONEq(t, string(p.Args), string(r.Args), "a requeued job keeps its args")
	require.Len(t, r.Errors, 1, "a requeued job keeps its error history")
	require.Equal(t, "permanent", r.Errors[0].Kind)

	n, err = b.RequeueDead(ctx, []int64{ids[0]})
	require.NoError(t, err)
	require.Zero(t, n, "a job that is no longer dead is not requeued again")
	n, err = b.RequeueDead(ctx, nil)
	require.NoError(t, err, "RequeueDead of no IDs is a no-op")
	require.Zero(t, n)
}

// PurgeDead deletes the dead jobs matching its filter and ignores Limit.
func testPurgeDead(t *testing.T, b pgqueue.Backend) {
	ctx := context.Background()
	a1, a2, b1, b2 := job(kindA), job(kindA), job(kindB), job(kindB)
	a1.Queue, a2.Queue, b1.Queue, b2.Queue = "q1", "q2", "q1", "q2"
	ids := kill(t, b, 0, a1, a2, b1, b2)
	purge := func(f pgqueue.DeadFilter) int {
		n, err := b.PurgeDead(ctx, f)
		require.NoError(t, err, "PurgeDead(%+v) must not fail", f)
		return n
	}
	require.Zero(t, purge(pgqueue.DeadFilter{Kind: "queuetest.none"}), "a filter matching nothing purges nothing")
	require.Zero(t, purge(pgqueue.DeadFilter{DiedBefore: time.Now().Add(-time.Hour)}), "no job died an hour ago")
	require.Equal(t, 1, purge(pgqueue.DeadFilter{Kind: kindA, Queue: "q1"}), "Kind and Queue combine with AND")
	require.ElementsMatch(t, ids[1:], deadIDs(listDead(t, b, pgqueue.DeadFilter{})), "only the purged job is gone")
	require.Equal(t, 1, purge(pgqueue.DeadFilter{IDs: []int64{ids[3], ids[0]}}), "IDs: the job purged already is not counted again")
	require.Equal(t, 2, purge(pgqueue.DeadFilter{Limit: 1}), "PurgeDead ignores Limit and deletes all that match")
	require.Empty(t, listDead(t, b, pgqueue.DeadFilter{}), "everything was purged")
	n, err := b.RequeueDead(ctx, ids)
	require.NoError(t, err)
	require.Zero(t, n, "purged jobs cannot be requeued")
	requireNothingClaimable(t, b, "q1", "purged jobs are gone", kindA, kindB)
}

// Listen wakes a queue's listeners when jobs become available in it, by
// Insert or by PromoteDue, and returns when its context ends. A backend
// without wake-ups returns ErrListenUnsupported and the behaviour is
// skipped.
func testListen(t *testing.T, b pgqueue.Backend) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	woken := map[string]int{}
	done := make(chan error, 1)
	go func() {
		done <- b.Listen(ctx, func(queue string) {
			mu.Lock()
			woken[queue]++
			mu.Unlock()
		})
	}()
	wokenFor := func(q string) bool {
		mu.Lock()
		defer mu.Unlock()
		return woken[q] > 0
	}
	checkDone := func() {
		select {
		case err := <-done:
			if errors.Is(err, pgqueue.ErrListenUnsupported) {
				t.Skip("backend has no wake-ups (Listen returned ErrListenUnsupported); clients poll")
			}
			require.Failf(t, "Listen returned before its context ended", "err: %v", err)
		default:
		}
	}

	// The listener may take a moment to subscribe: insert until it hears.
	waitFor(t, "Listen to report an Insert into queue listen_q", func() bool {
		checkDone()
		if wokenFor("listen_q") {
			return true
		}
		p := job(kindA)
		p.Queue = "listen_q"
		insert(t, b, p)
		time.Sleep(40 * time.Millisecond)
		return wokenFor("listen_q")
	})

	p := job(kindA)
	p.Queue = "listen_promoted"
	p.RunAt = time.Now().Add(50 * time.Millisecond)
	insert(t, b, p)
	waitFor(t, "PromoteDue to promote the job due in 50ms", func() bool {
		return len(promote(t, b).Queues) > 0
	})
	waitFor(t, "Listen to report the job PromoteDue made available in queue listen_promoted", func() bool {
		checkDone()
		return wokenFor("listen_promoted")
	})

	mu.Lock()
	for q := range woken {
		require.True(t, q == "" || strings.HasPrefix(q, "listen_"), "Listen woke queue %q, which got no job", q)
	}
	mu.Unlock()
	cancel()
	err := recv(t, done, "Listen to return after its context was cancelled")
	if err != nil {
		require.ErrorIs(t, err, context.Canceled, "Listen must return nil or the context's error when its context ends")
	}
}
