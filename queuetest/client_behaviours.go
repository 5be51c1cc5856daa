package queuetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
)

// clientBehaviours are the checks that drive the backend with a Client.
func clientBehaviours() []behaviour {
	return []behaviour{
		{"RunsJobWithArgsAndMetadata", testRunsJobWithArgsAndMetadata},
		{"RetriesWithGrowingBackoffThenDeadLetters", testRetriesWithGrowingBackoffThenDeadLetters},
		{"PermanentErrorDeadLettersAtOnce", testPermanentErrorDeadLettersAtOnce},
		{"PanicIsRecordedWithStack", testPanicIsRecordedWithStack},
		{"SnoozeKeepsAttempt", testSnoozeKeepsAttempt},
		{"UndecodableArgsDeadLetterAtOnce", testUndecodableArgsDeadLetterAtOnce},
		{"DelayedJobRunsWhenDue", testDelayedJobRunsWhenDue},
		{"MaxWorkersLimitsConcurrency", testMaxWorkersLimitsConcurrency},
		{"StopDrainsRunningJobs", testStopDrainsRunningJobs},
		{"StopPastDeadlineReleasesJobs", testStopPastDeadlineReleasesJobs},
		{"UnknownKindsAreLeftAlone", testUnknownKindsAreLeftAlone},
		{"ExpiredLeaseRunsOnAnotherClient", testExpiredLeaseRunsOnAnotherClient},
		{"HeartbeatKeepsLongJobOnOneClient", testHeartbeatKeepsLongJobOnOneClient},
		{"EnqueueRefusesBadInput", testEnqueueRefusesBadInput},
		{"EnqueueDefaults", testEnqueueDefaults},
		{"EnqueueManyStoresInOrder", testEnqueueManyStoresInOrder},
		{"EnqueueAfterStop", testEnqueueAfterStop},
	}
}

// basicArgs is the payload most client behaviours enqueue.
type basicArgs struct {
	N    int    `json:"n"`
	Text string `json:"text,omitempty"`
}

func (basicArgs) Kind() string { return "queuetest.basic" }

// otherArgs is a second kind, for clients that do not all work the same kinds.
type otherArgs struct {
	N int `json:"n"`
}

func (otherArgs) Kind() string { return "queuetest.other" }

// textNArgs and intNArgs share a kind but not a shape: a job enqueued as
// textNArgs no longer decodes into intNArgs.
type textNArgs struct {
	N string `json:"n"`
}

func (textNArgs) Kind() string { return "queuetest.decode" }

type intNArgs struct {
	N int `json:"n"`
}

func (intNArgs) Kind() string { return "queuetest.decode" }

// run is what a worker saw of one run of a job.
type run struct {
	ID          int64
	Kind        string
	Queue       string
	Priority    int
	Attempt     int
	MaxAttempts int
	Errors      []pgqueue.AttemptError
	CreatedAt   time.Time
	ScheduledAt time.Time
	AttemptedAt time.Time
	Args        basicArgs
	// At is the test's clock when the worker started.
	At time.Time
}

func runOf(job *pgqueue.Job[basicArgs]) run {
	return run{
		ID: job.ID, Kind: job.Kind, Queue: job.Queue, Priority: job.Priority,
		Attempt: job.Attempt, MaxAttempts: job.MaxAttempts, Errors: job.Errors,
		CreatedAt: job.CreatedAt, ScheduledAt: job.ScheduledAt, AttemptedAt: job.AttemptedAt,
		Args: job.Args, At: time.Now(),
	}
}

// fastConfig is a Client configuration that reacts within milliseconds, so
// the suite stays fast. Leases are long enough (2s, heartbeats every
// 100ms) not to expire on a loaded machine unless a behaviour wants them to.
func fastConfig(t testing.TB) pgqueue.Config {
	return pgqueue.Config{
		ID:                    "queuetest:" + t.Name(),
		LeaseDuration:         2 * time.Second,
		HeartbeatInterval:     100 * time.Millisecond,
		RescueInterval:        50 * time.Millisecond,
		PollInterval:          50 * time.Millisecond,
		CompleteFlushInterval: time.Millisecond,
		ShutdownGrace:         3 * time.Second,
		Retry:                 pgqueue.RetryPolicy{Base: 10 * time.Millisecond, Max: 200 * time.Millisecond, NoJitter: true},
	}
}

// newClient returns a Client over b with cfg, stopped at the end of the
// test if it was started.
func newClient(t testing.TB, b pgqueue.Backend, cfg pgqueue.Config) *pgqueue.Client {
	t.Helper()
	c, err := pgqueue.New(b, cfg)
	require.NoError(t, err, "pgqueue.New with the suite's configuration must succeed")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		_ = c.Stop(ctx)
	})
	return c
}

// register adds w to c, failing the test on error.
func register[T pgqueue.Args](t testing.TB, c *pgqueue.Client, w pgqueue.WorkFunc[T]) {
	t.Helper()
	require.NoError(t, pgqueue.Register(c, w), "Register")
}

// start starts c, failing the test on error.
func start(t testing.TB, c *pgqueue.Client) {
	t.Helper()
	require.NoError(t, c.Start(context.Background()), "Client.Start")
}

// stop stops c, giving running jobs up to waitTimeout to finish, and
// fails the test if Stop reports an error.
func stop(t testing.TB, c *pgqueue.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	require.NoError(t, c.Stop(ctx), "Client.Stop with time to drain must return nil")
}

// enqueue enqueues args with opts, failing the test on error.
func enqueue(t testing.TB, c *pgqueue.Client, args pgqueue.Args, opts *pgqueue.EnqueueOptions) int64 {
	t.Helper()
	id, err := c.Enqueue(context.Background(), args, opts)
	require.NoError(t, err, "Enqueue(%T %+v) must succeed", args, args)
	return id
}

// waitDead waits until the job with id is dead-lettered and returns it.
func waitDead(t testing.TB, b pgqueue.Backend, id int64, why string) *pgqueue.DeadJob {
	t.Helper()
	var d *pgqueue.DeadJob
	waitFor(t, fmt.Sprintf("job %d to be dead-lettered (%s)", id, why), func() bool {
		d = deadByID(t, b, id)
		return d != nil
	})
	return d
}

// requireFinished checks, once every client of b is stopped, that no job
// of kinds is left: none available, none dead, and none still running.
// Running jobs are invisible, so it waits until a lease taken when it was
// called would have ended, then runs Rescue, which must find nothing.
func requireFinished(t testing.TB, b pgqueue.Backend, lease time.Duration, kinds ...string) {
	t.Helper()
	sleepUntil(time.Now().Add(lease + 100*time.Millisecond))
	res := rescue(t, b)
	require.Zero(t, res.Requeued+res.DeadLettered, "every job finished, so Rescue must find no running job whose lease ended; found %+v (a completion was not recorded)", res)
	requireNothingClaimable(t, b, pgqueue.DefaultQueue, "every job finished", kinds...)
	require.Empty(t, listDead(t, b, pgqueue.DeadFilter{}), "no job should be dead")
}

// An enqueued job runs once, with its args decoded and its metadata set,
// and is completed.
func testRunsJobWithArgsAndMetadata(t *testing.T, b pgqueue.Backend) {
	cfg := fastConfig(t)
	c := newClient(t, b, cfg)
	runs := make(chan run, 10)
	register(t, c, func(ctx context.Context, job *pgqueue.Job[basicArgs]) error {
		runs <- runOf(job)
		return nil
	})
	start(t, c)
	before := time.Now()
	id := enqueue(t, c, basicArgs{N: 42, Text: "héllo \"world\""}, &pgqueue.EnqueueOptions{Priority: 2, MaxAttempts: 4})
	got := recv(t, runs, "the worker to run the enqueued job")
	require.Equal(t, id, got.ID, "Job.ID must be the ID Enqueue returned")
	require.Equal(t, basicArgs{N: 42, Text: "héllo \"world\""}, got.Args, "Job.Args must decode to the enqueued args")
	require.Equal(t, "queuetest.basic", got.Kind, "Job.Kind")
	require.Equal(t, pgqueue.DefaultQueue, got.Queue, "Job.Queue")
	require.Equal(t, 2, got.Priority, "Job.Priority")
	require.Equal(t, 1, got.Attempt, "the first run is Attempt 1")
	require.Equal(t, 4, got.MaxAttempts, "Job.MaxAttempts")
	require.Empty(t, got.Errors, "a first run has no earlier errors")
	require.WithinDuration(t, before, got.CreatedAt, clockSlack, "Job.CreatedAt")
	require.WithinDuration(t, before, got.ScheduledAt, clockSlack, "Job.ScheduledAt")
	require.WithinDuration(t, got.At, got.AttemptedAt, clockSlack, "Job.AttemptedAt")
	stop(t, c)
	select {
	case again := <-runs:
		require.Failf(t, "a job that succeeded ran again", "second run: %+v", again)
	default:
	}
	requireFinished(t, b, cfg.LeaseDuration, "queuetest.basic")
}

// A job failing every time is retried with growing waits, then
// dead-lettered with every attempt's error in order; requeued, it runs
// again from attempt 1 with its history.
func testRetriesWithGrowingBackoffThenDeadLetters(t *testing.T, b pgqueue.Backend) {
	const attempts = 4
	cfg := fastConfig(t)
	// Waits of 250, 500 and 1000ms: each at least 250ms longer than the
	// one before, so that a pickup or a write delayed by a loaded machine
	// (CI has seen a first retry run 180ms after its due time, under the
	// race detector with every package's tests at once) cannot reorder
	// them.
	cfg.Retry = pgqueue.RetryPolicy{Base: 250 * time.Millisecond, Max: 2 * time.Second, NoJitter: true}
	c := newClient(t, b, cfg)
	var fail atomic.Bool
	fail.Store(true)
	runs := make(chan run, 20)
	register(t, c, func(ctx context.Context, job *pgqueue.Job[basicArgs]) error {
		runs <- runOf(job)
		if fail.Load() {
			return fmt.Errorf("boom on attempt %d", job.Attempt)
		}
		return nil
	})
	start(t, c)
	id := enqueue(t, c, basicArgs{N: 7}, &pgqueue.EnqueueOptions{MaxAttempts: attempts})
	var seen []run
	for i := range attempts {
		r := recv(t, runs, fmt.Sprintf("run %d of %d of the failing job", i+1, attempts))
		require.Equal(t, id, r.ID)
		require.Equal(t, i+1, r.Attempt, "runs must count attempts 1, 2, 3, ...")
		require.Len(t, r.Errors, i, "attempt %d must see the errors of the %d attempts before it", i+1, i)
		seen = append(seen, r)
	}
	d := waitDead(t, b, id, "it failed all its attempts")
	var gaps []time.Duration
	for i := 1; i < len(seen); i++ {
		gap := seen[i].At.Sub(seen[i-1].At)
		want := cfg.Retry.Backoff(i)
		require.GreaterOrEqual(t, gap, want-earlyTolerance, "the wait after failed attempt %d (%v) must be at least the backoff %v", i, gap, want)
		if len(gaps) > 0 {
			require.Greater(t, gap, gaps[len(gaps)-1], "each wait must be longer than the one before (exponential backoff); waits so far %v, then %v", gaps, gap)
		}
		gaps = append(gaps, gap)
	}
	t.Logf("waits between attempts: %v", gaps)

	require.Equal(t, attempts, d.Attempt, "the dead job used all its attempts")
	require.Equal(t, attempts, d.MaxAttempts)
	require.Equal(t, "queuetest.basic", d.Kind)
	require.JSONEq(t, `{"n":7}`, string(d.Args), "the dead job keeps its args")
	require.Len(t, d.Errors, attempts, "the dead job must hold exactly one error per attempt")
	for i, e := range d.Errors {
		require.Equal(t, i+1, e.Attempt, "errors must be in attempt order")
		require.Equal(t, "error", e.Kind, "a returned error is recorded with Kind \"error\"")
		require.Equal(t, fmt.Sprintf("boom on attempt %d", i+1), e.Error, "the error text the worker returned")
		require.False(t, e.At.IsZero(), "every recorded error has a time")
	}
	select {
	case r := <-runs:
		require.Failf(t, "a job ran after its last attempt", "run: %+v", r)
	default:
	}

	fail.Store(false)
	n, err := b.RequeueDead(context.Background(), []int64{id})
	require.NoError(t, err)
	require.Equal(t, 1, n, "RequeueDead must move the dead job back")
	r := recv(t, runs, "the requeued job to run again")
	require.Equal(t, id, r.ID, "the requeued job keeps its ID")
	require.Equal(t, 1, r.Attempt, "a requeued job starts again at attempt 1")
	require.Len(t, r.Errors, attempts, "a requeued job keeps its error history")
	stop(t, c)
	require.Nil(t, deadByID(t, b, id), "the requeued job succeeded and is not dead")
}

// Permanent(err) dead-letters the job after one attempt.
func testPermanentErrorDeadLettersAtOnce(t *testing.T, b pgqueue.Backend) {
	c := newClient(t, b, fastConfig(t))
	var calls atomic.Int32
	register(t, c, func(ctx context.Context, job *pgqueue.Job[basicArgs]) error {
		calls.Add(1)
		return pgqueue.Permanent(errors.New("card declined"))
	})
	start(t, c)
	id := enqueue(t, c, basicArgs{N: 1}, &pgqueue.EnqueueOptions{MaxAttempts: 5})
	d := waitDead(t, b, id, "its worker returned Permanent")
	stop(t, c)
	require.Equal(t, int32(1), calls.Load(), "a permanent error must not be retried")
	require.Equal(t, 1, d.Attempt, "dead after its first attempt")
	require.Len(t, d.Errors, 1)
	require.Equal(t, "permanent", d.Errors[0].Kind, "a Permanent error is recorded with Kind \"permanent\"")
	require.Contains(t, d.Errors[0].Error, "card declined", "the recorded error keeps the worker's text")
	require.Equal(t, 1, d.Errors[0].Attempt)
}

// A panicking worker is an error with Kind "panic" and the worker's stack.
func testPanicIsRecordedWithStack(t *testing.T, b pgqueue.Backend) {
	c := newClient(t, b, fastConfig(t))
	var calls atomic.Int32
	register(t, c, func(ctx context.Context, job *pgqueue.Job[basicArgs]) error {
		calls.Add(1)
		panic("kaboom in worker")
	})
	start(t, c)
	id := enqueue(t, c, basicArgs{N: 1}, &pgqueue.EnqueueOptions{MaxAttempts: 2})
	d := waitDead(t, b, id, "its worker panicked on both attempts")
	stop(t, c)
	require.Equal(t, int32(2), calls.Load(), "a panic is a failed attempt and is retried while attempts remain")
	require.Len(t, d.Errors, 2, "one error per panicking attempt")
	for i, e := range d.Errors {
		require.Equal(t, i+1, e.Attempt)
		require.Equal(t, "panic", e.Kind, "a panic is recorded with Kind \"panic\"")
		require.Contains(t, e.Error, "kaboom in worker", "the recorded error holds the panic value")
		require.NotEmpty(t, e.Stack, "a panic's stack must be recorded")
		require.Contains(t, e.Stack, "queuetest", "the recorded stack must be the panicking worker's")
	}
}

// Snooze(d) runs the job again after d with the same attempt number and
// no error recorded.
func testSnoozeKeepsAttempt(t *testing.T, b pgqueue.Backend) {
	const snooze = 150 * time.Millisecond
	c := newClient(t, b, fastConfig(t))
	runs := make(chan run, 10)
	var calls atomic.Int32
	register(t, c, func(ctx context.Context, job *pgqueue.Job[basicArgs]) error {
		runs <- runOf(job)
		if calls.Add(1) <= 2 {
			return pgqueue.Snooze(snooze)
		}
		return nil
	})
	start(t, c)
	id := enqueue(t, c, basicArgs{N: 1}, &pgqueue.EnqueueOptions{MaxAttempts: 1})
	var seen []run
	for i := range 3 {
		r := recv(t, runs, fmt.Sprintf("run %d of the snoozing job", i+1))
		require.Equal(t, id, r.ID)
		require.Equal(t, 1, r.Attempt, "a snooze must not spend an attempt: run %d must still be attempt 1", i+1)
		require.Empty(t, r.Errors, "a snooze is not an error and must not be recorded")
		if i > 0 {
			gap := r.At.Sub(seen[i-1].At)
			require.GreaterOrEqual(t, gap, snooze-earlyTolerance, "a snoozed job must wait the snooze (%v) before it runs again, waited %v", snooze, gap)
		}
		seen = append(seen, r)
	}
	stop(t, c)
	require.Nil(t, deadByID(t, b, id), "snoozing twice with MaxAttempts 1 must not dead-letter the job")
}

// Args that no longer decode into the worker's type dead-letter at once
// with Kind "decode", without calling the worker.
func testUndecodableArgsDeadLetterAtOnce(t *testing.T, b pgqueue.Backend) {
	c := newClient(t, b, fastConfig(t))
	var calls atomic.Int32
	register(t, c, func(ctx context.Context, job *pgqueue.Job[intNArgs]) error {
		calls.Add(1)
		return nil
	})
	start(t, c)
	id := enqueue(t, c, textNArgs{N: "text"}, &pgqueue.EnqueueOptions{MaxAttempts: 5})
	d := waitDead(t, b, id, "its args do not decode into the worker's type")
	stop(t, c)
	require.Zero(t, calls.Load(), "the worker must not be called with args that did not decode")
	require.Equal(t, 1, d.Attempt, "a decode failure dead-letters after one attempt, whatever MaxAttempts says")
	require.Len(t, d.Errors, 1)
	require.Equal(t, "decode", d.Errors[0].Kind, "a decode failure is recorded with Kind \"decode\"")
	require.Contains(t, d.Errors[0].Error, "queuetest.decode", "the decode error names the kind")
	require.JSONEq(t, `{"n":"text"}`, string(d.Args), "the dead job keeps the args as stored, for repair")
}

// A job enqueued with a delay runs after it, not before.
func testDelayedJobRunsWhenDue(t *testing.T, b pgqueue.Backend) {
	const delay = 300 * time.Millisecond
	c := newClient(t, b, fastConfig(t))
	runs := make(chan run, 10)
	register(t, c, func(ctx context.Context, job *pgqueue.Job[basicArgs]) error {
		runs <- runOf(job)
		return nil
	})
	start(t, c)
	before := time.Now()
	delayed := enqueue(t, c, basicArgs{N: 1}, &pgqueue.EnqueueOptions{Delay: delay})
	runAt := time.Now().Add(2 * delay).UTC().Truncate(time.Millisecond)
	at := enqueue(t, c, basicArgs{N: 2}, &pgqueue.EnqueueOptions{RunAt: runAt})
	r := recv(t, runs, "the job enqueued with a 300ms Delay to run")
	require.Equal(t, delayed, r.ID, "the job with the earlier run-at runs first")
	require.GreaterOrEqual(t, r.At.Sub(before), delay-earlyTolerance, "a job enqueued with Delay %v ran after only %v", delay, r.At.Sub(before))
	require.WithinDuration(t, before.Add(delay), r.ScheduledAt, clockSlack, "Job.ScheduledAt of a delayed job is when it was due")
	r = recv(t, runs, "the job enqueued with a RunAt 600ms ahead to run")
	require.Equal(t, at, r.ID)
	require.False(t, r.At.Before(runAt.Add(-earlyTolerance)), "a job enqueued with RunAt ran %v early", runAt.Sub(r.At))
	require.WithinDuration(t, runAt, r.ScheduledAt, time.Millisecond, "Job.ScheduledAt is the RunAt given")
	require.Equal(t, 1, r.Attempt, "waiting for RunAt spends no attempt")
}

// A client runs at most Queues[q].MaxWorkers jobs of a queue at once, and
// works through all of them.
func testMaxWorkersLimitsConcurrency(t *testing.T, b pgqueue.Backend) {
	const jobs, maxWorkers = 20, 3
	cfg := fastConfig(t)
	cfg.Queues = map[string]pgqueue.QueueConfig{pgqueue.DefaultQueue: {MaxWorkers: maxWorkers}}
	c := newClient(t, b, cfg)
	var running, peak atomic.Int32
	var mu sync.Mutex
	done := map[int64]int{}
	register(t, c, func(ctx context.Context, job *pgqueue.Job[basicArgs]) error {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond) // a slow job, so that runs overlap
		mu.Lock()
		done[job.ID]++
		mu.Unlock()
		return nil
	})
	reqs := make([]pgqueue.EnqueueRequest, jobs)
	for i := range reqs {
		reqs[i] = pgqueue.EnqueueRequest{Args: basicArgs{N: i}}
	}
	ids, err := c.EnqueueMany(context.Background(), reqs)
	require.NoError(t, err)
	start(t, c)
	waitFor(t, "all 20 jobs to run", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(done) == jobs
	})
	stop(t, c)
	require.LessOrEqual(t, peak.Load(), int32(maxWorkers), "the client ran %d jobs at once with MaxWorkers %d", peak.Load(), maxWorkers)
	t.Logf("peak concurrency %d of MaxWorkers %d", peak.Load(), maxWorkers)
	for _, id := range ids {
		require.Equal(t, 1, done[id], "job %d must run exactly once", id)
	}
	requireFinished(t, b, cfg.LeaseDuration, "queuetest.basic")
}

// Stop waits for running jobs to finish and records their results.
func testStopDrainsRunningJobs(t *testing.T, b pgqueue.Backend) {
	cfg := fastConfig(t)
	c := newClient(t, b, cfg)
	started := make(chan struct{}, 10)
	var finished, cancelled atomic.Bool
	register(t, c, func(ctx context.Context, job *pgqueue.Job[basicArgs]) error {
		started <- struct{}{}
		select {
		case <-time.After(200 * time.Millisecond):
			finished.Store(true)
			return nil
		case <-ctx.Done():
			cancelled.Store(true)
			return ctx.Err()
		}
	})
	start(t, c)
	enqueue(t, c, basicArgs{N: 1}, nil)
	recv(t, started, "the job to start")
	stop(t, c)
	require.False(t, cancelled.Load(), "Stop with time to spare must not cancel a running job")
	require.True(t, finished.Load(), "Stop must wait for the running job to finish before it returns")
	requireFinished(t, b, cfg.LeaseDuration, "queuetest.basic")
}

// When Stop's context ends first, running jobs are cancelled and put back
// without spending an attempt: another client runs them as attempt 1.
func testStopPastDeadlineReleasesJobs(t *testing.T, b pgqueue.Backend) {
	c := newClient(t, b, fastConfig(t))
	started := make(chan struct{}, 10)
	returned := make(chan error, 10)
	register(t, c, func(ctx context.Context, job *pgqueue.Job[basicArgs]) error {
		started <- struct{}{}
		<-ctx.Done()
		returned <- ctx.Err()
		return ctx.Err()
	})
	start(t, c)
	id := enqueue(t, c, basicArgs{N: 1}, &pgqueue.EnqueueOptions{MaxAttempts: 3})
	recv(t, started, "the job to start")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := c.Stop(ctx)
	require.Error(t, err, "Stop must report that its context ended before the running job finished")
	require.ErrorIs(t, err, context.DeadlineExceeded, "Stop's error must wrap its context's error")
	require.Error(t, recv(t, returned, "the running job to see its context cancelled"), "the job's context must be cancelled when Stop's context ends")

	c2 := newClient(t, b, fastConfig(t))
	runs := make(chan run, 10)
	register(t, c2, func(ctx context.Context, job *pgqueue.Job[basicArgs]) error {
		runs <- runOf(job)
		return nil
	})
	start(t, c2)
	r := recv(t, runs, "a second client to run the job the first released on Stop")
	require.Equal(t, id, r.ID)
	require.Equal(t, 1, r.Attempt, "a job released on shutdown gets its attempt back: the next run is attempt 1")
	require.Empty(t, r.Errors, "a shutdown release is not a failure and records no error")
	stop(t, c2)
	require.Nil(t, deadByID(t, b, id))
}

// A client never claims, burns attempts of, or dead-letters a job whose
// kind it has no worker for; a client that has one runs it as attempt 1.
func testUnknownKindsAreLeftAlone(t *testing.T, b pgqueue.Backend) {
	a := newClient(t, b, fastConfig(t))
	mine := make(chan int64, 10)
	register(t, a, func(ctx context.Context, job *pgqueue.Job[basicArgs]) error {
		mine <- job.ID
		return nil
	})
	start(t, a)
	other := enqueue(t, a, otherArgs{N: 1}, &pgqueue.EnqueueOptions{MaxAttempts: 1})
	own := enqueue(t, a, basicArgs{N: 1}, nil)
	require.Equal(t, own, recv(t, mine, "client A to run the job of its own kind"), "client A runs its own job")
	// Let client A poll, promote and rescue several times more.
	time.Sleep(300 * time.Millisecond)
	stop(t, a)
	require.Nil(t, deadByID(t, b, other), "a client must not dead-letter a job whose kind it has no worker for")

	bc := newClient(t, b, fastConfig(t))
	runs := make(chan pgqueue.Job[otherArgs], 10)
	register(t, bc, func(ctx context.Context, job *pgqueue.Job[otherArgs]) error {
		runs <- *job
		return nil
	})
	start(t, bc)
	r := recv(t, runs, "client B, which has a worker for queuetest.other, to run that job")
	require.Equal(t, other, r.ID)
	require.Equal(t, 1, r.Attempt, "client A must not have spent an attempt of a kind it does not work")
	require.Empty(t, r.Errors, "client A must not have recorded errors for a kind it does not work")
	stop(t, bc)
}

// A job whose worker stopped heartbeating (a crashed process: here, a
// bare Backend.Claim with a short lease) runs again on a client after the
// lease ends, as the next attempt, and the crashed claim's token is lost.
func testExpiredLeaseRunsOnAnotherClient(t *testing.T, b pgqueue.Backend) {
	enq := newClient(t, b, fastConfig(t))
	id := enqueue(t, enq, basicArgs{N: 5}, &pgqueue.EnqueueOptions{MaxAttempts: 3})
	crashed := claimOne(t, b, 200*time.Millisecond, "queuetest.basic")
	require.Equal(t, id, crashed.ID)

	c := newClient(t, b, fastConfig(t))
	runs := make(chan run, 10)
	register(t, c, func(ctx context.Context, job *pgqueue.Job[basicArgs]) error {
		runs <- runOf(job)
		return nil
	})
	start(t, c)
	r := recv(t, runs, "the client to rescue and run the job whose lease expired")
	require.Equal(t, id, r.ID)
	require.Equal(t, 2, r.Attempt, "the crashed claim was attempt 1")
	require.Len(t, r.Errors, 1, "the lost attempt is recorded")
	require.Equal(t, "lease_expired", r.Errors[0].Kind, "an expired lease is recorded with Kind \"lease_expired\"")
	require.Equal(t, 1, r.Errors[0].Attempt, "the lease_expired error names the lost attempt")
	require.Equal(t, basicArgs{N: 5}, r.Args)
	stop(t, c)

	lost, err := b.Complete(context.Background(), []pgqueue.JobRef{crashed.Ref()})
	require.NoError(t, err)
	require.Equal(t, []pgqueue.JobRef{crashed.Ref()}, lost, "the crashed claim's token must be lost: its late Complete changes nothing")
	require.Nil(t, deadByID(t, b, id))
}

// Heartbeats keep a job that runs longer than its lease on the client that
// holds it: two clients working the same kind never run it twice.
func testHeartbeatKeepsLongJobOnOneClient(t *testing.T, b pgqueue.Backend) {
	cfg := fastConfig(t)
	cfg.LeaseDuration = 400 * time.Millisecond
	cfg.HeartbeatInterval = 50 * time.Millisecond
	var runsCount atomic.Int32
	done := make(chan int, 10)
	worker := func(ctx context.Context, job *pgqueue.Job[basicArgs]) error {
		runsCount.Add(1)
		select {
		case <-time.After(1200 * time.Millisecond): // three leases long
			done <- job.Attempt
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	clients := make([]*pgqueue.Client, 2)
	for i := range clients {
		cfg.ID = fmt.Sprintf("queuetest:%s:%d", t.Name(), i)
		clients[i] = newClient(t, b, cfg)
		register(t, clients[i], worker)
		start(t, clients[i])
	}
	id := enqueue(t, clients[0], basicArgs{N: 1}, nil)
	require.Equal(t, 1, recv(t, done, "the long job to finish"), "the long job finishes on its first attempt")
	for _, c := range clients {
		stop(t, c)
	}
	require.Equal(t, int32(1), runsCount.Load(), "a job whose lease is kept alive by heartbeats must run exactly once")
	require.Nil(t, deadByID(t, b, id))
}

// Bad input to Enqueue and EnqueueMany is refused with ErrInvalidArgs and
// stores nothing.
func testEnqueueRefusesBadInput(t *testing.T, b pgqueue.Backend) {
	cfg := fastConfig(t)
	cfg.MaxArgsBytes = 64
	c := newClient(t, b, cfg)
	cases := []struct {
		name string
		args pgqueue.Args
		opts *pgqueue.EnqueueOptions
	}{
		{"empty kind", emptyKindArgs{}, nil},
		{"nil args", nil, nil},
		{"typed nil pointer args", (*pointerArgs)(nil), nil},
		{"args with a chan field", chanArgs{C: make(chan int)}, nil},
		{"args with a func field", funcArgs{F: func() {}}, nil},
		{"args that fail MarshalJSON", failingArgs{}, nil},
		{"args that do not encode as a JSON object", stringArgs("just a string"), nil},
		{"oversized args", basicArgs{Text: strings.Repeat("x", 100)}, nil},
		{"negative MaxAttempts", basicArgs{}, &pgqueue.EnqueueOptions{MaxAttempts: -1}},
		{"priority 11", basicArgs{}, &pgqueue.EnqueueOptions{Priority: 11}},
		{"priority -1", basicArgs{}, &pgqueue.EnqueueOptions{Priority: -1}},
		{"queue name with a space", basicArgs{}, &pgqueue.EnqueueOptions{Queue: "has space"}},
		{"queue name of 200 characters", basicArgs{}, &pgqueue.EnqueueOptions{Queue: strings.Repeat("q", 200)}},
		{"queue name starting with punctuation", basicArgs{}, &pgqueue.EnqueueOptions{Queue: ".hidden"}},
		{"RunAt and Delay both set", basicArgs{}, &pgqueue.EnqueueOptions{RunAt: time.Now().Add(time.Hour), Delay: time.Hour}},
		{"negative Delay", basicArgs{}, &pgqueue.EnqueueOptions{Delay: -time.Second}},
	}
	for _, tc := range cases {
		id, err := c.Enqueue(context.Background(), tc.args, tc.opts)
		require.ErrorIs(t, err, pgqueue.ErrInvalidArgs, "Enqueue with %s must be refused with ErrInvalidArgs", tc.name)
		require.Zero(t, id, "a refused Enqueue (%s) returns no ID", tc.name)
		var verr *pgqueue.ValidationError
		require.ErrorAs(t, err, &verr, "the refusal of %s must be a *ValidationError naming the field", tc.name)
		require.NotEmpty(t, verr.Field, "the ValidationError for %s must name the field", tc.name)
	}

	ids, err := c.EnqueueMany(context.Background(), []pgqueue.EnqueueRequest{
		{Args: basicArgs{N: 1}},
		{Args: basicArgs{N: 2}, Options: &pgqueue.EnqueueOptions{Priority: 99}},
		{Args: basicArgs{N: 3}},
	})
	require.ErrorIs(t, err, pgqueue.ErrInvalidArgs, "EnqueueMany with one bad job must be refused")
	require.Contains(t, err.Error(), "job 1", "EnqueueMany's error must say which job was refused")
	require.Empty(t, ids, "a refused EnqueueMany returns no IDs")
	_, err = c.EnqueueMany(context.Background(), nil)
	require.ErrorIs(t, err, pgqueue.ErrInvalidArgs, "EnqueueMany of no jobs is refused")

	// Nothing was stored: no job is available, scheduled or dead.
	requireNothingClaimable(t, b, pgqueue.DefaultQueue, "every Enqueue was refused", "queuetest.basic", "", "queuetest.pointer", "queuetest.chan", "queuetest.func", "queuetest.failing", "queuetest.string")
	res := promote(t, b)
	require.False(t, res.HasNext, "every Enqueue was refused, so no job may be scheduled")
	require.Empty(t, res.Queues, "every Enqueue was refused, so nothing may be promoted")
	require.Empty(t, listDead(t, b, pgqueue.DeadFilter{}), "a refused job is not dead-lettered either")

	// The refusals did not break the client: a valid job still goes in.
	enqueue(t, c, basicArgs{N: 1}, nil)
	require.Len(t, claim(t, b, pgqueue.DefaultQueue, 10, longLease, "queuetest.basic"), 1, "a valid job enqueued after refusals is stored")
}

// Enqueue fills in documented defaults and accepts the edges of each range.
func testEnqueueDefaults(t *testing.T, b pgqueue.Backend) {
	cfg := fastConfig(t)
	cfg.MaxAttempts = 9
	c := newClient(t, b, cfg)
	def := enqueue(t, c, basicArgs{N: 1}, nil)
	empty := enqueue(t, c, basicArgs{N: 2}, &pgqueue.EnqueueOptions{Queue: "", Priority: 0, MaxAttempts: 0})
	first := enqueue(t, c, basicArgs{N: 3}, &pgqueue.EnqueueOptions{Priority: pgqueue.MinPriority})
	last := enqueue(t, c, basicArgs{N: 4}, &pgqueue.EnqueueOptions{Priority: pgqueue.MaxPriority})
	long := strings.Repeat("q", 128)
	enqueue(t, c, basicArgs{N: 5}, &pgqueue.EnqueueOptions{Queue: long})
	enqueue(t, c, basicArgs{N: 6}, &pgqueue.EnqueueOptions{Queue: "a-b_c.d:e"})

	rows := claim(t, b, pgqueue.DefaultQueue, 10, longLease, "queuetest.basic")
	require.Len(t, rows, 4, "jobs with no queue go to the default queue")
	byID := map[int64]*pgqueue.JobRow{}
	for _, r := range rows {
		byID[r.ID] = r
	}
	for _, id := range []int64{def, empty} {
		require.Equal(t, pgqueue.DefaultPriority, byID[id].Priority, "priority 0 means the default priority")
		require.Equal(t, 9, byID[id].MaxAttempts, "MaxAttempts 0 means Config.MaxAttempts")
		require.Equal(t, pgqueue.DefaultQueue, byID[id].Queue, "an empty queue means the default queue")
	}
	require.Equal(t, pgqueue.MinPriority, byID[first].Priority)
	require.Equal(t, pgqueue.MaxPriority, byID[last].Priority)
	require.Len(t, claim(t, b, long, 10, longLease, "queuetest.basic"), 1, "a 128-character queue name is valid")
	require.Len(t, claim(t, b, "a-b_c.d:e", 10, longLease, "queuetest.basic"), 1, "queue names may hold '-', '_', '.' and ':'")
}

// EnqueueMany stores every job and returns their IDs in the order given;
// jobs enqueued together run in that order.
func testEnqueueManyStoresInOrder(t *testing.T, b pgqueue.Backend) {
	c := newClient(t, b, fastConfig(t))
	const n = 25
	reqs := make([]pgqueue.EnqueueRequest, n)
	for i := range reqs {
		reqs[i] = pgqueue.EnqueueRequest{Args: basicArgs{N: i}}
	}
	reqs[3].Options = &pgqueue.EnqueueOptions{Queue: "elsewhere"}
	ids, err := c.EnqueueMany(context.Background(), reqs)
	require.NoError(t, err, "EnqueueMany of valid jobs")
	require.Len(t, ids, n, "EnqueueMany returns one ID per job")
	for i := 1; i < n; i++ {
		require.Greater(t, ids[i], ids[i-1], "EnqueueMany's IDs must increase in the order given")
	}
	var got []int
	for {
		rows := claim(t, b, pgqueue.DefaultQueue, 1, longLease, "queuetest.basic")
		if len(rows) == 0 {
			break
		}
		var a basicArgs
		require.NoError(t, json.Unmarshal(rows[0].Args, &a), "claimed args must decode")
		i := slices.Index(ids, rows[0].ID)
		require.GreaterOrEqual(t, i, 0, "claimed job %d was not enqueued", rows[0].ID)
		require.Equal(t, i, a.N, "the job with the i-th returned ID must carry the i-th args")
		got = append(got, a.N)
	}
	want := []int{}
	for i := range n {
		if i != 3 {
			want = append(want, i)
		}
	}
	require.Equal(t, want, got, "jobs enqueued together with equal priority must be claimed in the order given")
	rows := claim(t, b, "elsewhere", 10, longLease, "queuetest.basic")
	require.Len(t, rows, 1, "a job's own options apply within EnqueueMany")
	require.Equal(t, ids[3], rows[0].ID)
}

// Enqueue on a stopped client returns ErrClientStopped and stores nothing;
// a client that never started can be stopped and refuses work too.
func testEnqueueAfterStop(t *testing.T, b pgqueue.Backend) {
	c := newClient(t, b, fastConfig(t))
	register(t, c, func(ctx context.Context, job *pgqueue.Job[basicArgs]) error { return nil })
	start(t, c)
	stop(t, c)
	_, err := c.Enqueue(context.Background(), basicArgs{N: 1}, nil)
	require.ErrorIs(t, err, pgqueue.ErrClientStopped, "Enqueue after Stop")
	_, err = c.EnqueueMany(context.Background(), []pgqueue.EnqueueRequest{{Args: basicArgs{N: 1}}})
	require.ErrorIs(t, err, pgqueue.ErrClientStopped, "EnqueueMany after Stop")
	require.ErrorIs(t, c.Start(context.Background()), pgqueue.ErrClientStopped, "Start after Stop")
	require.NoError(t, c.Stop(context.Background()), "a second Stop returns nil")

	idle := newClient(t, b, fastConfig(t))
	require.ErrorIs(t, idle.Start(context.Background()), pgqueue.ErrNoWorkers, "Start with no workers")
	require.NoError(t, idle.Stop(context.Background()), "Stop of a client that never started")
	_, err = idle.Enqueue(context.Background(), basicArgs{N: 1}, nil)
	require.ErrorIs(t, err, pgqueue.ErrClientStopped, "Enqueue after Stop of a client that never started")

	requireNothingClaimable(t, b, pgqueue.DefaultQueue, "every Enqueue came after Stop", "queuetest.basic")
	require.False(t, promote(t, b).HasNext, "nothing may be scheduled")
}

// Args the client must refuse at enqueue.
type (
	emptyKindArgs struct{}
	pointerArgs   struct{ N int }
	chanArgs      struct {
		C chan int `json:"c"`
	}
	funcArgs struct {
		F func() `json:"f"`
	}
	failingArgs struct{}
	stringArgs  string
)

func (emptyKindArgs) Kind() string { return "" }

// Kind reads the receiver, so calling it on a nil *pointerArgs panics.
func (p *pointerArgs) Kind() string { _ = p.N; return "queuetest.pointer" }
func (chanArgs) Kind() string       { return "queuetest.chan" }
func (funcArgs) Kind() string       { return "queuetest.func" }
func (failingArgs) Kind() string    { return "queuetest.failing" }
func (stringArgs) Kind() string     { return "queuetest.string" }

// MarshalJSON always fails, like args holding a value that cannot encode.
func (failingArgs) MarshalJSON() ([]byte, error) {
	return nil, errors.New("queuetest: this value cannot be encoded")
}
