package queuetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
)

func statsBehaviours() []behaviour {
	return []behaviour{
		{"RecordedRowsAddUpPerMinute", testStatsRowsAddUp},
		{"StepsSumMinutesAndFilterQueues", testStatsStepsAndQueues},
		{"InvalidQueriesRefused", testStatsInvalidQueries},
		{"PruneDeletesOldMinutes", testStatsPrune},
		{"ClientCountsOutcomes", testStatsClientCountsOutcomes},
	}
}

func requireStats(t *testing.T, b pgqueue.Backend) pgqueue.StatsRecorder {
	t.Helper()
	r, ok := b.(pgqueue.StatsRecorder)
	if !ok {
		t.Skipf("%T does not implement pgqueue.StatsRecorder", b)
	}
	if _, ok := b.(pgqueue.StatsHistoryReader); !ok {
		t.Fatalf("%T implements pgqueue.StatsRecorder but not pgqueue.StatsHistoryReader: what it stores must be readable", b)
	}
	return r
}

// statsBase is a recent hour's start, well within any retention (a
// store that expires rows must not expire the suite's), and aligned to
// every step the tests use.
func statsBase() time.Time { return time.Now().UTC().Truncate(time.Hour).Add(-time.Hour) }

// buckets returns a histogram of ds.
func buckets(ds ...time.Duration) pgqueue.StatsBuckets {
	var b pgqueue.StatsBuckets
	for _, d := range ds {
		b.Observe(d)
	}
	return b
}

// history reads Admin.StatsHistory, failing the test on error.
func history(t *testing.T, b pgqueue.Backend, from, to time.Time, step time.Duration, queues ...string) []pgqueue.StatsPoint {
	t.Helper()
	points, err := pgqueue.NewAdmin(b).StatsHistory(context.Background(), from, to, step, queues...)
	require.NoError(t, err, "StatsHistory(%s, %s, %s, %v)", from.Format(time.RFC3339), to.Format(time.RFC3339), step, queues)
	return points
}

// statsFixture writes, in two calls as two clients would, rows of queues
// "mail" and "sms" in the minutes base+0, +1, +2 and +7.
func statsFixture(t *testing.T, r pgqueue.StatsRecorder, base time.Time) {
	t.Helper()
	ctx := context.Background()
	first := []pgqueue.StatsRollup{
		{Minute: base, Queue: "mail", Kind: "send", Completed: 3, Run: buckets(30*time.Millisecond, 30*time.Millisecond, 30*time.Millisecond),
			Wait: buckets(time.Millisecond, time.Millisecond, 3*time.Second)},
		{Minute: base.Add(time.Minute), Queue: "mail", Kind: "send", Failed: 2, Run: buckets(time.Second, time.Second)},
		{Minute: base.Add(2 * time.Minute), Queue: "sms", Kind: "text", Dead: 1, Run: buckets(4 * time.Second)},
	}
	second := []pgqueue.StatsRollup{
		// The same minute, queue and kind as a row of the first call: the
		// counts and buckets add up.
		{Minute: base, Queue: "mail", Kind: "send", Completed: 1, Run: buckets(30 * time.Millisecond), Wait: buckets(time.Millisecond)},
		// Another kind in the same minute and queue.
		{Minute: base, Queue: "mail", Kind: "digest", Completed: 1, Run: buckets(2 * time.Hour), Wait: buckets(time.Millisecond)},
		{Minute: base.Add(7 * time.Minute), Queue: "sms", Kind: "text", Cancelled: 1, LeaseLost: 1},
	}
	require.NoError(t, r.RecordStats(ctx, first, time.Hour*24))
	require.NoError(t, r.RecordStats(ctx, second, time.Hour*24))
	require.NoError(t, r.RecordStats(ctx, nil, time.Hour*24), "RecordStats of no rows is a no-op")
}

// Rows written by several calls for the same minute, queue and kind add
// up, counts and buckets; each minute is its own point, minutes with
// nothing are zero points, and percentiles are bucket bounds.
func testStatsRowsAddUp(t *testing.T, b pgqueue.Backend) {
	r := requireStats(t, b)
	base := statsBase()
	statsFixture(t, r, base)
	points := history(t, b, base, base.Add(10*time.Minute), time.Minute)
	require.Len(t, points, 10, "one point per minute from From to To, empty minutes included")
	for i, p := range points {
		require.True(t, p.At.Equal(base.Add(time.Duration(i)*time.Minute)), "point %d starts at minute %d, got %v", i, i, p.At)
	}
	m0 := points[0]
	require.EqualValues(t, 5, m0.Completed, "minute 0: 3 + 1 completed of mail/send and 1 of mail/digest")
	require.Equal(t, 50*time.Millisecond, m0.RunP50, "run p50 of 30ms, 30ms, 30ms, 30ms and 2h is the bound of 30ms's bucket")
	require.Equal(t, time.Hour, m0.RunP95, "run p95 falls in the overflow bucket, reported as the last bound")
	require.Equal(t, time.Millisecond, m0.WaitP50, "wait p50 of 1ms x4 and 3s")
	require.Equal(t, 5*time.Second, m0.WaitP95, "wait p95 of 1ms x4 and 3s is the bound of 3s's bucket")
	require.Equal(t, pgqueue.StatsPoint{At: points[1].At, Failed: 2, RunP50: time.Second, RunP95: time.Second}, points[1], "minute 1")
	require.Equal(t, pgqueue.StatsPoint{At: points[2].At, Dead: 1, RunP50: 5 * time.Second, RunP95: 5 * time.Second}, points[2], "minute 2")
	for _, i := range []int{3, 4, 5, 6, 8, 9} {
		require.Equal(t, pgqueue.StatsPoint{At: points[i].At}, points[i], "minute %d had nothing: a zero point", i)
	}
	require.Equal(t, pgqueue.StatsPoint{At: points[7].At, Cancelled: 1, LeaseLost: 1}, points[7], "minute 7: no times were counted, so no percentiles")
	require.InDelta(t, 2.0/7, pgqueue.StatsPoint{Completed: 5, Failed: 1, Dead: 1}.FailureRate(), 1e-9)

	before := history(t, b, base.Add(-10*time.Minute), base, time.Minute)
	require.Len(t, before, 10)
	for _, p := range before {
		require.Zero(t, p.Completed+p.Failed+p.Dead+p.Cancelled+p.LeaseLost, "nothing before the first written minute: To is exclusive")
	}
}

// Steps of 5 minutes sum their minutes; a From inside a step starts that
// step at its multiple of the step and leaves out the minutes before
// From's; the queue filter keeps only the queues named.
func testStatsStepsAndQueues(t *testing.T, b pgqueue.Backend) {
	r := requireStats(t, b)
	base := statsBase()
	statsFixture(t, r, base)
	points := history(t, b, base, base.Add(15*time.Minute), 5*time.Minute)
	require.Len(t, points, 3)
	require.True(t, points[0].At.Equal(base) && points[1].At.Equal(base.Add(5*time.Minute)), "steps start at multiples of the step: %v, %v", points[0].At, points[1].At)
	p0 := points[0]
	require.Equal(t, [5]int64{5, 2, 1, 0, 0}, [5]int64{p0.Completed, p0.Failed, p0.Dead, p0.Cancelled, p0.LeaseLost}, "step 0 sums minutes 0 to 4")
	require.Equal(t, 50*time.Millisecond, p0.RunP50, "run p50 over the step's 4x30ms, 2h, 2x1s and 4s is the 4th, 30ms's bucket")
	require.Equal(t, time.Hour, p0.RunP95)
	p1 := points[1]
	require.Equal(t, [5]int64{0, 0, 0, 1, 1}, [5]int64{p1.Completed, p1.Failed, p1.Dead, p1.Cancelled, p1.LeaseLost}, "step 1 sums minutes 5 to 9")
	require.Equal(t, pgqueue.StatsPoint{At: points[2].At}, points[2], "an empty step is a zero point")

	mail := history(t, b, base, base.Add(15*time.Minute), 5*time.Minute, "mail")
	require.Len(t, mail, 3)
	require.Equal(t, [3]int64{5, 2, 0}, [3]int64{mail[0].Completed, mail[0].Failed, mail[0].Dead}, "only mail's rows")
	require.Zero(t, mail[1].Cancelled+mail[1].LeaseLost, "sms's minute 7 is left out")
	both := history(t, b, base, base.Add(15*time.Minute), 5*time.Minute, "sms", "mail")
	require.Equal(t, points, both, "naming every queue is the same as naming none")
	none := history(t, b, base, base.Add(15*time.Minute), 5*time.Minute, "no-such-queue")
	require.Len(t, none, 3, "an unknown queue gives zero points, not an error")
	require.Zero(t, none[0].Completed)

	late := history(t, b, base.Add(90*time.Second), base.Add(10*time.Minute), 5*time.Minute)
	require.Len(t, late, 2)
	require.True(t, late[0].At.Equal(base), "the first step starts at From truncated to the step, got %v", late[0].At)
	require.Equal(t, [3]int64{0, 2, 1}, [3]int64{late[0].Completed, late[0].Failed, late[0].Dead}, "minute 0, before From's minute, is left out; minute 1 (From's) is in")
}

// StatsHistory refuses a step that is not a whole number of minutes, an
// empty range and one of too many points, with ErrInvalidArgs; a zero step
// means a minute.
func testStatsInvalidQueries(t *testing.T, b pgqueue.Backend) {
	requireStats(t, b)
	admin := pgqueue.NewAdmin(b)
	ctx := context.Background()
	base := statsBase()
	for _, step := range []time.Duration{-time.Minute, 30 * time.Second, 90 * time.Second} {
		_, err := admin.StatsHistory(ctx, base, base.Add(time.Hour), step)
		require.ErrorIs(t, err, pgqueue.ErrInvalidArgs, "a step of %v is not a whole number of minutes", step)
	}
	_, err := admin.StatsHistory(ctx, base, base, time.Minute)
	require.ErrorIs(t, err, pgqueue.ErrInvalidArgs, "an empty range")
	_, err = admin.StatsHistory(ctx, base, base.Add(-time.Minute), time.Minute)
	require.ErrorIs(t, err, pgqueue.ErrInvalidArgs, "a range that ends before it starts")
	_, err = admin.StatsHistory(ctx, base.Add(-time.Duration(pgqueue.MaxStatsHistoryPoints)*time.Minute), base.Add(time.Minute), time.Minute)
	require.ErrorIs(t, err, pgqueue.ErrInvalidArgs, "more than MaxStatsHistoryPoints steps")
	points, err := admin.StatsHistory(ctx, base, base.Add(3*time.Minute), 0)
	require.NoError(t, err)
	require.Len(t, points, 3, "a zero step means one minute")
}

// PruneStats deletes the minutes before its bound, up to its limit, and
// leaves the others; a store that expires rows by itself may delete none.
func testStatsPrune(t *testing.T, b pgqueue.Backend) {
	r := requireStats(t, b)
	base := statsBase()
	statsFixture(t, r, base)
	ctx := context.Background()
	n, err := r.PruneStats(ctx, base.Add(2*time.Minute), 1)
	require.NoError(t, err)
	if n == 0 {
		t.Logf("%T prunes nothing: its rows expire by themselves", b)
		return
	}
	require.Equal(t, 1, n, "PruneStats deletes at most limit rows")
	n, err = r.PruneStats(ctx, base.Add(2*time.Minute), 100)
	require.NoError(t, err)
	require.Equal(t, 2, n, "the two other rows before minute 2")
	points := history(t, b, base, base.Add(10*time.Minute), time.Minute)
	require.Zero(t, points[0].Completed+points[1].Failed, "minutes 0 and 1 are pruned")
	require.EqualValues(t, 1, points[2].Dead, "minute 2 is not before the bound and stays")
	require.EqualValues(t, 1, points[7].Cancelled)
}

// A started client counts each run's outcome in memory and writes it:
// on its flush loop while running, and at Stop. Completed, failed (then
// retried), dead and cancelled runs land in their counters; run and wait
// times in plausible buckets.
func testStatsClientCountsOutcomes(t *testing.T, b pgqueue.Backend) {
	requireStats(t, b)
	if _, ok := b.(pgqueue.Canceller); !ok {
		t.Skipf("%T does not implement pgqueue.Canceller", b)
	}
	from := time.Now().Add(-time.Minute)
	cfg := fastConfig(t)
	cfg.StatsFlushInterval = 50 * time.Millisecond
	c := newClient(t, b, cfg)
	cancelled := make(chan int64, 1)
	register(t, c, func(ctx context.Context, j *pgqueue.Job[basicArgs]) error {
		switch j.Args.Text {
		case "flaky":
			if j.Attempt == 1 {
				return errors.New("flaky: first attempt fails")
			}
		case "bad":
			return pgqueue.Permanent(errors.New("bad: fails for good"))
		case "cancel":
			cancelled <- j.ID
			<-ctx.Done()
			return ctx.Err()
		case "slow":
			time.Sleep(30 * time.Millisecond)
		}
		return nil
	})
	start(t, c)
	total := func() pgqueue.StatsPoint {
		var sum pgqueue.StatsPoint
		for _, p := range history(t, b, from, time.Now().Add(2*time.Minute), time.Minute) {
			sum.Completed += p.Completed
			sum.Failed += p.Failed
			sum.Dead += p.Dead
			sum.Cancelled += p.Cancelled
			sum.LeaseLost += p.LeaseLost
			sum.RunP95 = max(sum.RunP95, p.RunP95)
			sum.WaitP95 = max(sum.WaitP95, p.WaitP95)
		}
		return sum
	}
	// Due three seconds ago: it waited at least that long when claimed.
	enqueue(t, c, basicArgs{Text: "slow"}, &pgqueue.EnqueueOptions{RunAt: time.Now().Add(-3 * time.Second)})
	waitFor(t, "the flush loop to write the first completion while the client runs", func() bool { return total().Completed == 1 })
	enqueue(t, c, basicArgs{Text: "flaky"}, &pgqueue.EnqueueOptions{MaxAttempts: 3})
	dead := enqueue(t, c, basicArgs{Text: "bad"}, nil)
	waitDead(t, b, dead, "a permanent error")
	id := enqueue(t, c, basicArgs{Text: "cancel"}, nil)
	require.Equal(t, id, recv(t, cancelled, "the job to cancel to start"))
	require.NoError(t, c.Cancel(context.Background(), id))
	waitFor(t, "the flaky job to complete on its second attempt", func() bool { return total().Completed == 2 })
	stop(t, c)

	sum := total()
	require.EqualValues(t, 2, sum.Completed, "the slow job, and the flaky one on its retry")
	require.EqualValues(t, 1, sum.Failed, "the flaky job's first attempt failed and was retried")
	require.EqualValues(t, 1, sum.Dead, "the permanent failure")
	require.EqualValues(t, 1, sum.Cancelled+sum.LeaseLost, "the cancelled run (lease lost if its heartbeat noticed first); written by Stop at the latest")
	bounds := pgqueue.StatsBucketBounds()
	require.True(t, slices.Contains(bounds, sum.RunP95), "a percentile is a bucket bound, got %v", sum.RunP95)
	require.GreaterOrEqual(t, sum.RunP95, 50*time.Millisecond, "the slow job ran 30ms: its bucket's bound is 50ms or more")
	require.GreaterOrEqual(t, sum.WaitP95, 5*time.Second, "the slow job waited 3s from its run-at to its claim: its bucket's bound is 5s or more")
	require.Less(t, sum.WaitP95, time.Hour, "no job waited anywhere near an hour")
}
