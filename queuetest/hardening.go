package queuetest

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
)

// hardeningBehaviours check that bad input is refused the same way on
// every backend, that what a worker returns is always storable, and that
// events and periodic jobs report and do what was stored.
func hardeningBehaviours() []behaviour {
	return []behaviour{
		{"UniqueByArgsKeepsLargeIntegersApart", testUniqueByArgsKeepsLargeIntegersApart},
		{"EnqueueRefusesUnstorableText", testEnqueueRefusesUnstorableText},
		{"EnqueueAcceptsTheEdgesOfEachLimit", testEnqueueAcceptsTheEdgesOfEachLimit},
		{"WorkerErrorWithNULIsDeadLettered", testWorkerErrorWithNULIsDeadLettered},
		{"CompletionAfterStopIsNotReported", testCompletionAfterStopIsNotReported},
		{"PeriodicScheduleThatStopsFiringDoesNotSpin", testPeriodicScheduleThatStopsFiringDoesNotSpin},
	}
}

// bigArgs carries an integer that float64 cannot hold exactly.
type bigArgs struct {
	N uint64 `json:"n"`
}

func (bigArgs) Kind() string { return "queuetest.big" }

// kindArgs has whatever kind its K says, to test kind validation.
type kindArgs struct {
	K string `json:"-"`
	N int    `json:"n"`
}

func (a kindArgs) Kind() string { return a.K }

// nulArgs holds a map, so a NUL can sit in a JSON object key too.
type nulArgs struct {
	S string            `json:"s"`
	M map[string]string `json:"m,omitempty"`
}

func (nulArgs) Kind() string { return "queuetest.nul" }

// Unique keys derived from args must tell apart integers that a float64
// cannot (2^53 and 2^53+1): both jobs are stored, and each blocks only its
// own duplicate.
func testUniqueByArgsKeepsLargeIntegersApart(t *testing.T, b pgqueue.Backend) {
	requireUnique(t, b)
	c := newClient(t, b, fastConfig(t))
	byArgs := &pgqueue.EnqueueOptions{Unique: &pgqueue.UniqueOpts{ByArgs: true}}
	big := enqueue(t, c, bigArgs{N: 1<<53 + 1}, byArgs)
	id, err := c.Enqueue(context.Background(), bigArgs{N: 1 << 53}, byArgs)
	require.NoError(t, err, "args {n: 2^53} differ from {n: 2^53+1}, so their unique keys must differ and both jobs be stored")
	require.NotEqual(t, big, id, "the second job must be a job of its own")
	_, err = c.Enqueue(context.Background(), bigArgs{N: 1<<53 + 1}, byArgs)
	require.ErrorIs(t, err, pgqueue.ErrDuplicateJob, "the same large integer again is a duplicate")
	_, err = c.Enqueue(context.Background(), bigArgs{N: math.MaxUint64}, byArgs)
	require.NoError(t, err)
	_, err = c.Enqueue(context.Background(), bigArgs{N: math.MaxUint64 - 1}, byArgs)
	require.NoError(t, err, "2^64-1 and 2^64-2 are distinct args")
}

// Text no backend can store as given (a NUL byte, invalid UTF-8) and text
// past the documented limits are refused at enqueue on every backend
// with a *ValidationError naming the field, and nothing is stored.
func testEnqueueRefusesUnstorableText(t *testing.T, b pgqueue.Backend) {
	c := newClient(t, b, fastConfig(t))
	_, unique := b.(pgqueue.UniqueInserter)
	bigMeta := map[string]string{}
	for i := range 9 {
		bigMeta[strings.Repeat(string(rune('a'+i)), 10)] = strings.Repeat("v", 1000)
	}
	cases := []struct {
		name  string
		args  pgqueue.Args
		opts  *pgqueue.EnqueueOptions
		field string
	}{
		{"a NUL in an args string", nulArgs{S: "a\x00b"}, nil, "args"},
		{"a NUL in an args object key", nulArgs{M: map[string]string{"k\x00": "v"}}, nil, "args"},
		{"a NUL in the kind", kindArgs{K: "queuetest.k\x00"}, nil, "Kind"},
		{"invalid UTF-8 in the kind", kindArgs{K: "queuetest.\xff"}, nil, "Kind"},
		{"a kind longer than MaxKindBytes", kindArgs{K: strings.Repeat("k", pgqueue.MaxKindBytes+1)}, nil, "Kind"},
		{"a NUL in the queue", basicArgs{}, &pgqueue.EnqueueOptions{Queue: "q\x00"}, "Queue"},
		{"a queue longer than MaxQueueBytes", basicArgs{}, &pgqueue.EnqueueOptions{Queue: strings.Repeat("q", pgqueue.MaxQueueBytes+1)}, "Queue"},
		{"a NUL in a metadata key", basicArgs{}, &pgqueue.EnqueueOptions{Metadata: map[string]string{"k\x00": "v"}}, "Metadata key"},
		{"a NUL in a metadata value", basicArgs{}, &pgqueue.EnqueueOptions{Metadata: map[string]string{"k": "v\x00"}}, `Metadata["k"]`},
		{"invalid UTF-8 in a metadata value", basicArgs{}, &pgqueue.EnqueueOptions{Metadata: map[string]string{"k": "\xff"}}, `Metadata["k"]`},
		{"a metadata key longer than MaxMetadataKeyBytes", basicArgs{}, &pgqueue.EnqueueOptions{Metadata: map[string]string{strings.Repeat("k", pgqueue.MaxMetadataKeyBytes+1): "v"}}, "Metadata key"},
		{"metadata larger than MaxMetadataBytes", basicArgs{}, &pgqueue.EnqueueOptions{Metadata: bigMeta}, "Metadata"},
		{"MaxAttempts 2^32+3 (would be stored as 3)", basicArgs{}, &pgqueue.EnqueueOptions{MaxAttempts: 1<<32 + 3}, "MaxAttempts"},
		{"MaxAttempts past MaxAttemptsLimit", basicArgs{}, &pgqueue.EnqueueOptions{MaxAttempts: pgqueue.MaxAttemptsLimit + 1}, "MaxAttempts"},
		{"RunAt in year 300000", basicArgs{}, &pgqueue.EnqueueOptions{RunAt: time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC)}, "RunAt"},
		{"RunAt in MaxRunAtYear", basicArgs{}, &pgqueue.EnqueueOptions{RunAt: time.Date(pgqueue.MaxRunAtYear, 1, 1, 0, 0, 0, 0, time.UTC)}, "RunAt"},
		{"RunAt before year 1", basicArgs{}, &pgqueue.EnqueueOptions{RunAt: time.Date(-5000, 1, 1, 0, 0, 0, 0, time.UTC)}, "RunAt"},
		{"a Delay past MaxRunAtYear", basicArgs{}, &pgqueue.EnqueueOptions{Delay: math.MaxInt64}, "Delay"},
	}
	if unique {
		cases = append(cases,
			struct {
				name  string
				args  pgqueue.Args
				opts  *pgqueue.EnqueueOptions
				field string
			}{"a NUL in the unique key", basicArgs{}, &pgqueue.EnqueueOptions{Unique: &pgqueue.UniqueOpts{Key: "u\x00"}}, "Unique.Key"},
			struct {
				name  string
				args  pgqueue.Args
				opts  *pgqueue.EnqueueOptions
				field string
			}{"a unique key longer than MaxUniqueKeyBytes", basicArgs{}, &pgqueue.EnqueueOptions{Unique: &pgqueue.UniqueOpts{Key: strings.Repeat("u", pgqueue.MaxUniqueKeyBytes+1)}}, "Unique.Key"},
		)
	}
	for _, tc := range cases {
		id, err := c.Enqueue(context.Background(), tc.args, tc.opts)
		require.ErrorIs(t, err, pgqueue.ErrInvalidArgs, "Enqueue with %s must be refused with ErrInvalidArgs before it reaches the backend", tc.name)
		require.Zero(t, id, "a refused Enqueue (%s) returns no ID", tc.name)
		var verr *pgqueue.ValidationError
		require.ErrorAs(t, err, &verr, "the refusal of %s must be a *ValidationError", tc.name)
		require.Equal(t, tc.field, verr.Field, "the ValidationError for %s must name the field", tc.name)
	}
	requireNothingClaimable(t, b, pgqueue.DefaultQueue, "every Enqueue was refused", "queuetest.basic", "queuetest.nul", strings.Repeat("k", pgqueue.MaxKindBytes+1))
	res := promote(t, b)
	require.False(t, res.HasNext, "every Enqueue was refused, so no job may be scheduled")
	require.Empty(t, listDead(t, b, pgqueue.DeadFilter{}), "a refused job is not dead-lettered either")
}

// Values at each limit are stored exactly as given.
func testEnqueueAcceptsTheEdgesOfEachLimit(t *testing.T, b pgqueue.Backend) {
	c := newClient(t, b, fastConfig(t))
	kind := strings.Repeat("k", pgqueue.MaxKindBytes)
	meta := map[string]string{strings.Repeat("m", pgqueue.MaxMetadataKeyBytes): strings.Repeat("v", pgqueue.MaxMetadataBytes-pgqueue.MaxMetadataKeyBytes)}
	opts := &pgqueue.EnqueueOptions{MaxAttempts: pgqueue.MaxAttemptsLimit, Metadata: meta}
	if _, ok := b.(pgqueue.UniqueInserter); ok {
		opts.Unique = &pgqueue.UniqueOpts{Key: strings.Repeat("u", pgqueue.MaxUniqueKeyBytes)}
	}
	id := enqueue(t, c, kindArgs{K: kind, N: 1}, opts)
	row := claimOne(t, b, longLease, kind)
	require.Equal(t, id, row.ID)
	require.Equal(t, kind, row.Kind, "a kind of MaxKindBytes is stored as given")
	require.Equal(t, pgqueue.MaxAttemptsLimit, row.MaxAttempts, "MaxAttemptsLimit is stored exactly")
	require.Equal(t, meta, row.Metadata, "metadata at the limits is stored as given")

	late := time.Date(pgqueue.MaxRunAtYear-1, 12, 31, 0, 0, 0, 0, time.UTC)
	enqueue(t, c, basicArgs{N: 2}, &pgqueue.EnqueueOptions{RunAt: late})
	res := promote(t, b)
	require.True(t, res.HasNext, "a job due in year %d is scheduled", pgqueue.MaxRunAtYear-1)
	require.WithinDuration(t, late, time.Now().Add(res.NextIn), time.Minute, "the run time in year %d is stored as given", pgqueue.MaxRunAtYear-1)
}

// A worker's error and panic text may hold a NUL byte; the client stores
// it (with U+FFFD in the NUL's place) so the job is dead-lettered and
// readable, instead of a write failing and the job looping on rescue.
func testWorkerErrorWithNULIsDeadLettered(t *testing.T, b pgqueue.Backend) {
	c := newClient(t, b, fastConfig(t))
	register(t, c, func(ctx context.Context, j *pgqueue.Job[basicArgs]) error {
		if j.Args.N == 2 {
			panic("panic\x00value")
		}
		return pgqueue.Permanent(errors.New("bad\x00byte"))
	})
	start(t, c)
	errID := enqueue(t, c, basicArgs{N: 1}, nil)
	panicID := enqueue(t, c, basicArgs{N: 2}, &pgqueue.EnqueueOptions{MaxAttempts: 1})
	d := waitDead(t, b, errID, "its worker returned a permanent error whose text holds a NUL")
	require.NotEmpty(t, d.Errors)
	require.Equal(t, "permanent: bad\uFFFDbyte", d.Errors[len(d.Errors)-1].Error, "the NUL in the error text is stored as U+FFFD")
	d = waitDead(t, b, panicID, "its worker panicked with a value holding a NUL, on its only attempt")
	require.Equal(t, "panic: panic\uFFFDvalue", d.Errors[len(d.Errors)-1].Error, "the NUL in the panic text is stored as U+FFFD")
	require.Equal(t, "panic", d.Errors[len(d.Errors)-1].Kind)
}

// A run that returns nil after Stop gave up on it (its context's grace
// ended) is not completed: nothing writes the completion any more. Its
// event must say so (EventLeaseLost), not EventCompleted, and the job must
// run again after its lease.
func testCompletionAfterStopIsNotReported(t *testing.T, b pgqueue.Backend) {
	cfg := fastConfig(t)
	cfg.ShutdownGrace = 50 * time.Millisecond
	cfg.LeaseDuration = 500 * time.Millisecond
	c := newClient(t, b, cfg)
	sub := c.Subscribe(16)
	defer sub.Close()
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	register(t, c, func(ctx context.Context, j *pgqueue.Job[basicArgs]) error {
		once.Do(func() { close(started) })
		<-release // ignores ctx, like a handler stuck in a call without one
		return nil
	})
	start(t, c)
	id := enqueue(t, c, basicArgs{N: 1}, nil)
	recv(t, started, "the job to start")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	require.Error(t, c.Stop(ctx), "Stop past its deadline with a job that ignores cancellation reports it")
	close(release)
	ev := recv(t, sub.C, "the event of the run that returned after Stop")
	require.Equal(t, id, ev.Job.ID)
	require.Equal(t, pgqueue.EventLeaseLost, ev.Kind, "the run returned nil after Stop, but its completion was never written: the event must not say completed (err: %v)", ev.Err)
	require.ErrorIs(t, ev.Err, pgqueue.ErrLeaseLost)

	sleepUntil(time.Now().Add(cfg.LeaseDuration + 100*time.Millisecond))
	res := rescue(t, b)
	require.Equal(t, 1, res.Requeued, "the job was not completed, so it is rescued after its lease")
}

// countingSchedule fires once, soon, then returns the zero time, as a
// schedule for a date that never comes does.
type countingSchedule struct {
	first time.Time
	calls atomic.Int64
}

func (s *countingSchedule) Next(t time.Time) time.Time {
	s.calls.Add(1)
	if t.Before(s.first) {
		return s.first
	}
	return time.Time{}
}

// A schedule that stops returning later ticks (the zero time) must not
// make the client spin enqueueing: its one real tick is enqueued once,
// then the periodic job stops.
func testPeriodicScheduleThatStopsFiringDoesNotSpin(t *testing.T, b pgqueue.Backend) {
	requirePeriodic(t, b)
	sched := &countingSchedule{first: time.Now().Add(200 * time.Millisecond)}
	cfg := fastConfig(t)
	cfg.Periodic = []pgqueue.PeriodicJob{{Name: "stops-firing", Schedule: sched, Args: otherArgs{N: 1}}}
	c := newClient(t, b, cfg)
	start(t, c)
	time.Sleep(700 * time.Millisecond)
	stop(t, c)
	require.LessOrEqual(t, sched.calls.Load(), int64(10), "the periodic loop called Next %d times in 0.7s: it spins on a schedule that no longer fires", sched.calls.Load())
	rows := claim(t, b, pgqueue.DefaultQueue, 100, longLease, otherArgs{}.Kind())
	require.Len(t, rows, 1, "the one real tick is enqueued exactly once")
}
