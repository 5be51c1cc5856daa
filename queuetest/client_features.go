package queuetest

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
)

// featureBehaviours check the engine features that ride on every backend:
// timeouts, middleware, enqueue middleware and events.
func featureBehaviours() []behaviour {
	return []behaviour{
		{"JobTimeoutFailsTheAttempt", testJobTimeoutFailsTheAttempt},
		{"PerKindTimeoutOverridesTheClients", testPerKindTimeoutOverridesTheClients},
		{"HungHandlerLosesItsLease", testHungHandlerLosesItsLease},
		{"MiddlewareWrapsEveryRun", testMiddlewareWrapsEveryRun},
		{"EnqueueMiddlewareCanRefuse", testEnqueueMiddlewareCanRefuse},
		{"EventsReportOutcomes", testEventsReportOutcomes},
		{"MetadataTravelsWithTheJob", testMetadataTravelsWithTheJob},
	}
}

// A run that outlives Config.JobTimeout has its context cancelled, fails
// with a "timeout" error and is retried.
func testJobTimeoutFailsTheAttempt(t *testing.T, b pgqueue.Backend) {
	cfg := fastConfig(t)
	cfg.JobTimeout = 50 * time.Millisecond
	c := newClient(t, b, cfg)
	runs := make(chan run, 4)
	register(t, c, func(ctx context.Context, j *pgqueue.Job[basicArgs]) error {
		runs <- runOf(j)
		if j.Attempt == 1 {
			<-ctx.Done() // a well-behaved worker that is too slow
			return ctx.Err()
		}
		return nil
	})
	start(t, c)
	id := enqueue(t, c, basicArgs{N: 1}, &pgqueue.EnqueueOptions{MaxAttempts: 3})
	first := recv(t, runs, "the first attempt")
	require.Equal(t, id, first.ID)
	second := recv(t, runs, "the retry after the timeout")
	require.Equal(t, 2, second.Attempt)
	require.Len(t, second.Errors, 1, "the timed-out attempt is recorded")
	require.Equal(t, "timeout", second.Errors[0].Kind, "the recorded error is a timeout")
}

type timeoutWorker struct {
	d    time.Duration
	runs chan time.Duration
}

func (w timeoutWorker) Timeout() time.Duration { return w.d }

func (w timeoutWorker) Work(ctx context.Context, j *pgqueue.Job[otherArgs]) error {
	dl, ok := ctx.Deadline()
	if !ok {
		w.runs <- 0
		return nil
	}
	w.runs <- time.Until(dl)
	return nil
}

// A worker's Timeout method sets its kind's timeout; Register refuses a
// non-positive one.
func testPerKindTimeoutOverridesTheClients(t *testing.T, b pgqueue.Backend) {
	cfg := fastConfig(t)
	cfg.JobTimeout = time.Hour
	c := newClient(t, b, cfg)
	bad := timeoutWorker{d: 0}
	err := pgqueue.Register[otherArgs](c, bad)
	require.ErrorIs(t, err, pgqueue.ErrInvalidConfig, "a worker timeout of 0 must be refused at Register")
	w := timeoutWorker{d: 5 * time.Second, runs: make(chan time.Duration, 1)}
	require.NoError(t, pgqueue.Register[otherArgs](c, w))
	start(t, c)
	enqueue(t, c, otherArgs{N: 1}, nil)
	left := recv(t, w.runs, "the run of the kind with its own timeout")
	require.Greater(t, left, time.Duration(0), "the run's context must have a deadline")
	require.LessOrEqual(t, left, 5*time.Second, "the kind's 5s timeout, not the client's hour, must apply")

	_, err = pgqueue.New(b, pgqueue.Config{JobTimeout: -time.Second})
	require.ErrorIs(t, err, pgqueue.ErrInvalidConfig, "a negative JobTimeout must be refused")
}

// A handler that ignores its timeout stops having its lease renewed, so
// the job is rescued and runs elsewhere; the stuck run cannot complete it.
func testHungHandlerLosesItsLease(t *testing.T, b pgqueue.Backend) {
	cfg := fastConfig(t)
	cfg.JobTimeout = 50 * time.Millisecond
	cfg.ShutdownGrace = 50 * time.Millisecond
	cfg.LeaseDuration = 400 * time.Millisecond
	// One slot, held by the hung run: this client cannot take the job back.
	cfg.Queues = map[string]pgqueue.QueueConfig{pgqueue.DefaultQueue: {MaxWorkers: 1}}
	stuck := newClient(t, b, cfg)
	release := make(chan struct{})
	defer close(release)
	started := make(chan int64, 1)
	register(t, stuck, func(ctx context.Context, j *pgqueue.Job[basicArgs]) error {
		started <- j.ID
		<-release // ignores ctx
		return nil
	})
	start(t, stuck)
	id := enqueue(t, stuck, basicArgs{N: 1}, &pgqueue.EnqueueOptions{MaxAttempts: 3})
	require.Equal(t, id, recv(t, started, "the hung run"))

	healthy := newClient(t, b, fastConfig(t))
	again := make(chan run, 1)
	register(t, healthy, func(ctx context.Context, j *pgqueue.Job[basicArgs]) error {
		again <- runOf(j)
		return nil
	})
	start(t, healthy)
	r := recv(t, again, "the job to run on the healthy client after the hung run lost its lease")
	require.Equal(t, id, r.ID)
	require.Equal(t, 2, r.Attempt)
}

// Middleware wraps every run, outermost first, sees the job, and can
// change the outcome.
func testMiddlewareWrapsEveryRun(t *testing.T, b pgqueue.Backend) {
	var (
		mu    sync.Mutex
		trace []string
	)
	note := func(s string) {
		mu.Lock()
		trace = append(trace, s)
		mu.Unlock()
	}
	cfg := fastConfig(t)
	cfg.Middleware = []pgqueue.Middleware{
		func(next pgqueue.Handler) pgqueue.Handler {
			return func(ctx context.Context, j *pgqueue.JobMeta) error {
				note("outer:" + j.Kind)
				err := next(ctx, j)
				note("outer done")
				return err
			}
		},
		func(next pgqueue.Handler) pgqueue.Handler {
			return func(ctx context.Context, j *pgqueue.JobMeta) error {
				note("inner")
				var a basicArgs
				if err := json.Unmarshal(j.Args, &a); err != nil {
					return err
				}
				if a.N == 13 {
					return pgqueue.Permanent(errors.New("refused by middleware"))
				}
				return next(ctx, j)
			}
		},
	}
	c := newClient(t, b, cfg)
	ran := make(chan int, 2)
	register(t, c, func(ctx context.Context, j *pgqueue.Job[basicArgs]) error {
		note("worker")
		ran <- j.Args.N
		return nil
	})
	start(t, c)
	enqueue(t, c, basicArgs{N: 1}, nil)
	require.Equal(t, 1, recv(t, ran, "the job through the middleware"))
	waitFor(t, "the outer middleware to finish", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(trace) == 4
	})
	mu.Lock()
	require.Equal(t, []string{"outer:queuetest.basic", "inner", "worker", "outer done"}, trace)
	mu.Unlock()

	id := enqueue(t, c, basicArgs{N: 13}, nil)
	d := waitDead(t, b, id, "middleware returned a permanent error")
	require.Equal(t, "refused by middleware", d.Errors[0].Error[len("permanent: "):])
}

// Enqueue middleware sees validated jobs and can refuse them: nothing is
// stored.
func testEnqueueMiddlewareCanRefuse(t *testing.T, b pgqueue.Backend) {
	refuse := errors.New("tenant over quota")
	var seen []string
	cfg := fastConfig(t)
	cfg.EnqueueMiddleware = []pgqueue.EnqueueMiddleware{func(next pgqueue.EnqueueHandler) pgqueue.EnqueueHandler {
		return func(ctx context.Context, jobs []pgqueue.InsertParams) ([]int64, error) {
			for _, j := range jobs {
				seen = append(seen, j.Kind+"@"+j.Queue)
				if j.Queue == "blocked" {
					return nil, refuse
				}
			}
			return next(ctx, jobs)
		}
	}}
	c := newClient(t, b, cfg)
	_, err := c.Enqueue(context.Background(), basicArgs{N: 1}, &pgqueue.EnqueueOptions{Queue: "blocked"})
	require.ErrorIs(t, err, refuse, "the middleware's error comes back to the caller")
	requireNothingClaimable(t, b, "blocked", "a refused enqueue stores nothing", basicArgs{}.Kind())
	enqueue(t, c, basicArgs{N: 2}, nil)
	require.Equal(t, []string{"queuetest.basic@blocked", "queuetest.basic@default"}, seen)
	require.Len(t, claim(t, b, pgqueue.DefaultQueue, 10, longLease, basicArgs{}.Kind()), 1, "the allowed job is stored")
}

// Subscribers see each outcome: completed, failed (will retry) and dead.
func testEventsReportOutcomes(t *testing.T, b pgqueue.Backend) {
	c := newClient(t, b, fastConfig(t))
	sub := c.Subscribe(64)
	defer sub.Close()
	register(t, c, func(ctx context.Context, j *pgqueue.Job[basicArgs]) error {
		switch {
		case j.Args.N == 1:
			return nil
		case j.Args.N == 2 && j.Attempt == 1:
			return errors.New("flaky")
		case j.Args.N == 2:
			return nil
		default:
			return pgqueue.Permanent(errors.New("bad"))
		}
	})
	start(t, c)
	want := map[int64][]pgqueue.EventKind{
		enqueue(t, c, basicArgs{N: 1}, nil):                                     {pgqueue.EventCompleted},
		enqueue(t, c, basicArgs{N: 2}, &pgqueue.EnqueueOptions{MaxAttempts: 3}): {pgqueue.EventFailed, pgqueue.EventCompleted},
		enqueue(t, c, basicArgs{N: 4}, nil):                                     {pgqueue.EventDead},
	}
	got := map[int64][]pgqueue.EventKind{}
	for n := 0; n < 4; n++ {
		ev := recv(t, sub.C, "job events")
		require.NotNil(t, ev.Job, "an event names its job")
		require.False(t, ev.At.IsZero())
		got[ev.Job.ID] = append(got[ev.Job.ID], ev.Kind)
		if ev.Kind == pgqueue.EventDead || ev.Kind == pgqueue.EventFailed {
			require.Error(t, ev.Err, "a %s event carries the error", ev.Kind)
		}
	}
	require.Equal(t, want, got)
	require.Zero(t, sub.Dropped())
}

// Metadata set at enqueue reaches the worker and the middleware, and
// stays with the job when it is dead-lettered and requeued.
func testMetadataTravelsWithTheJob(t *testing.T, b pgqueue.Backend) {
	seen := make(chan map[string]string, 4)
	cfg := fastConfig(t)
	cfg.Middleware = []pgqueue.Middleware{func(next pgqueue.Handler) pgqueue.Handler {
		return func(ctx context.Context, j *pgqueue.JobMeta) error {
			seen <- j.Metadata
			return next(ctx, j)
		}
	}}
	c := newClient(t, b, cfg)
	worker := make(chan map[string]string, 4)
	register(t, c, func(ctx context.Context, j *pgqueue.Job[basicArgs]) error {
		worker <- j.Metadata
		return pgqueue.Permanent(errors.New("keep me"))
	})
	start(t, c)
	md := map[string]string{"tenant": "acme", "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
	id := enqueue(t, c, basicArgs{N: 1}, &pgqueue.EnqueueOptions{Metadata: md})
	require.Equal(t, md, recv(t, seen, "the middleware's view"))
	require.Equal(t, md, recv(t, worker, "the worker's view"))
	d := waitDead(t, b, id, "the worker failed permanently")
	require.Equal(t, md, d.Metadata, "dead letters keep their metadata")
	n, err := b.RequeueDead(context.Background(), []int64{id})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, md, recv(t, worker, "the requeued run's view"), "a requeued job keeps its metadata")

	_, err = c.Enqueue(context.Background(), basicArgs{N: 2}, &pgqueue.EnqueueOptions{Metadata: map[string]string{"": "x"}})
	require.ErrorIs(t, err, pgqueue.ErrInvalidArgs, "an empty metadata key is refused")
}
