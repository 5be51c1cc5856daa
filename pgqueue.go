// Package pgqueue is a transactional job queue for Go on Postgres.
//
// Jobs are enqueued inside the caller's own pgx transaction (EnqueueTx), so a
// job exists if and only if the business writes beside it commit. Workers
// claim due jobs with FOR UPDATE SKIP LOCKED, are woken by LISTEN/NOTIFY
// (polling is the fallback), run them with bounded concurrency per queue,
// retry failures with exponential backoff and jitter, and move jobs that
// keep failing to a dead-letter table that operators query with plain SQL.
//
// A Client is the engine; a Backend only stores. NewPostgres gives the
// Postgres backend; memqueue and redisqueue give the others, and queuetest
// is the conformance suite all of them pass.
package pgqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"
)

// Args is the payload of a job: a struct with a Kind that names which
// Worker runs it. It is stored as JSON, so its exported fields (and json
// tags) are what survives between enqueue and work.
type Args interface {
	// Kind names the job type, for example "email.send". It must be
	// non-empty and stable across deployments.
	Kind() string
}

// ArgsWithDefaults is an optional interface for Args that want per-kind
// enqueue defaults (queue, priority, max attempts). Options passed to
// Enqueue override them field by field.
type ArgsWithDefaults interface {
	Args
	EnqueueDefaults() EnqueueOptions
}

// Job is one run of a job, handed to a Worker.
type Job[T Args] struct {
	// ID is the job's ID, the same for every attempt.
	ID int64
	// Kind is the kind the job was enqueued with (its args' Kind).
	Kind string
	// Queue is the queue the job was enqueued in.
	Queue string
	// Priority is from 1 (runs first) to 10 (runs last).
	Priority int
	// Attempt counts runs including this one, starting at 1.
	Attempt int
	// MaxAttempts is how many runs the job gets before it is
	// dead-lettered.
	MaxAttempts int
	// Errors holds the failures of the earlier attempts, oldest first.
	Errors []AttemptError
	// CreatedAt is when the job was enqueued, by the backend's clock.
	CreatedAt time.Time
	// ScheduledAt is when the job became due for this run: the run time it
	// was enqueued for, or when a retry, snooze, rescue or requeue made it
	// due again.
	ScheduledAt time.Time
	// AttemptedAt is when this run claimed the job, by the backend's clock.
	AttemptedAt time.Time
	// Args is the decoded payload.
	Args T
	// Metadata is what EnqueueOptions.Metadata (or enqueue middleware) set.
	Metadata map[string]string

	state *jobState
}

// Handle identifies a running job for CompleteTx. *Job[T] implements it.
type Handle interface {
	jobState() *jobState
}

func (j *Job[T]) jobState() *jobState { return j.state }

// Worker runs jobs of one kind. Work returns nil on success; an error makes
// the job retry by the retry policy, Permanent(err) sends it to the
// dead-letter table at once, and Snooze(d) runs it again after d without
// spending an attempt. A panic is recovered and counts as a failed attempt,
// with its stack recorded. ctx is cancelled when the client stops past its
// drain deadline or when the job's lease is lost.
type Worker[T Args] interface {
	Work(ctx context.Context, job *Job[T]) error
}

// WorkerWithRetry is an optional interface for a Worker whose kind needs
// its own retry policy instead of Config.Retry.
type WorkerWithRetry interface {
	RetryPolicy() RetryPolicy
}

// WorkerWithTimeout is an optional interface for a Worker whose kind needs
// its own job timeout instead of Config.JobTimeout. Timeout must return a
// positive duration; Register refuses the worker otherwise.
type WorkerWithTimeout interface {
	Timeout() time.Duration
}

// WorkFunc adapts a plain function to a Worker.
type WorkFunc[T Args] func(ctx context.Context, job *Job[T]) error

// Work calls f(ctx, job).
func (f WorkFunc[T]) Work(ctx context.Context, job *Job[T]) error { return f(ctx, job) }

// Queue and priority limits.
const (
	// DefaultQueue is the queue used when none is named.
	DefaultQueue = "default"
	// MinPriority is the most urgent priority: lower numbers run first.
	MinPriority = 1
	// MaxPriority is the least urgent priority.
	MaxPriority = 10
	// DefaultPriority is used when EnqueueOptions.Priority is 0.
	DefaultPriority = 5
	// DefaultMaxAttempts is used when neither the options nor the args
	// defaults nor Config.MaxAttempts set one.
	DefaultMaxAttempts = 25
	// defaultLivenessGrace is Config.LivenessGrace's default.
	defaultLivenessGrace = 2 * time.Second
	// defaultMaxWorkers is QueueConfig.MaxWorkers's default.
	defaultMaxWorkers = 100
	// defaultStatsFlushInterval is Config.StatsFlushInterval's default.
	defaultStatsFlushInterval = 5 * time.Second
	// DefaultStatsRetention is how long per-minute stats are kept unless
	// Config.StatsRetention says otherwise: 7 days.
	DefaultStatsRetention = 7 * 24 * time.Hour
	// DefaultMaxArgsBytes is the largest encoded args accepted (1 MiB)
	// unless Config.MaxArgsBytes says otherwise.
	DefaultMaxArgsBytes = 1 << 20
)

// EnqueueOptions tune one enqueued job. The zero value (or nil) uses the
// args' EnqueueDefaults, then the Client's defaults.
type EnqueueOptions struct {
	// Queue names the queue: 1–128 letters, digits, '_', '.', ':' or '-',
	// not starting with a punctuation mark. Default "default".
	Queue string
	// Priority from 1 (runs first) to 10 (runs last). 0 means 5.
	Priority int
	// RunAt makes the job due at a time, which must fall in the years 1
	// to MaxRunAtYear-1. Set at most one of RunAt and Delay. Default: due
	// now.
	RunAt time.Time
	// Delay makes the job due that long after it is enqueued, by this
	// process's clock; negative is refused. Default 0: due now.
	Delay time.Duration
	// MaxAttempts is how many runs the job gets before it is dead-lettered.
	// 0 means the default; negative, or above MaxAttemptsLimit, is refused.
	MaxAttempts int
	// Unique, when set, refuses the job while another with the same unique
	// key is waiting or running (see UniqueOpts). Default: not unique.
	Unique *UniqueOpts
	// Metadata is stored with the job and shown to workers, middleware
	// and operators (trace context, tenant, tags). Keys must be non-empty
	// and at most MaxMetadataKeyBytes, keys and values together at most
	// MaxMetadataBytes, all valid UTF-8 without NUL bytes.
	Metadata map[string]string
}

// EnqueueRequest is one job for EnqueueMany and EnqueueManyTx.
type EnqueueRequest struct {
	// Args is the job's payload; it must not be nil.
	Args Args
	// Options tune the job as Enqueue's opts do; nil uses the defaults.
	Options *EnqueueOptions
}

// QueueConfig configures how a Client works one queue.
type QueueConfig struct {
	// MaxWorkers is how many jobs of the queue this client runs at once.
	// Default 100.
	MaxWorkers int
	// GlobalMaxWorkers, when positive, caps the queue's running jobs across
	// all clients; it is stored at Start and enforced by the backend for
	// every client. Default 0: no global cap.
	GlobalMaxWorkers int
	// RateLimit, when set, caps how many jobs of the queue start per second
	// across all clients (stored at Start like GlobalMaxWorkers). Its
	// PerSecond must be positive. Default nil: no cap.
	RateLimit *RateLimit
	// Retention overrides Config.Retention for the queue's jobs: how long
	// a completed job is kept in the history. Default 0: Config.Retention;
	// negative: not kept, whatever Config.Retention says. At most
	// MaxRetention.
	Retention time.Duration
}

// Config configures a Client. Zero fields take the documented defaults.
type Config struct {
	// Queues maps each queue this client works to its settings. Default:
	// {"default": {MaxWorkers: 100}}. A client with no workers registered
	// works no queue at all.
	Queues map[string]QueueConfig
	// ID names this client in the running jobs it holds. Default: host
	// name and process ID.
	ID string
	// LeaseDuration is how long a claim holds a job without a heartbeat.
	// The job of a worker that died runs again within LivenessGrace plus
	// about two RescueIntervals when the backend can tell its death
	// (LivenessKeeper: every backend here), and otherwise, or when it
	// cannot tell (a network partition), within LeaseDuration +
	// RescueInterval. Default 30s; at least MinLeaseDuration.
	LeaseDuration time.Duration
	// HeartbeatInterval is how often running jobs' leases are extended.
	// Default LeaseDuration/3; must be shorter than LeaseDuration.
	HeartbeatInterval time.Duration
	// RescueInterval is how often the client looks for expired leases
	// and for clients whose liveness is gone. Default 1s.
	RescueInterval time.Duration
	// LivenessGrace is how long a client's liveness must have been seen
	// gone, and its job claimed, before the job is rescued without
	// waiting for its lease (see LivenessKeeper): a live client whose
	// liveness connection was cut binds it again well within it. Default
	// 2s; negative disables liveness, leaving dead clients' jobs to their
	// leases.
	LivenessGrace time.Duration
	// PollInterval is how often each queue is polled when no wake-up
	// arrives, and how often due scheduled jobs are promoted. Default 1s.
	PollInterval time.Duration
	// PollOnly disables LISTEN (for PgBouncer transaction pooling): the
	// client finds work by polling alone. Default false.
	PollOnly bool
	// CompleteFlushInterval is how long successful completions are
	// gathered before they are written in one statement. Default 2ms.
	CompleteFlushInterval time.Duration
	// MaxAttempts is the default number of runs per job. Default 25; at
	// most MaxAttemptsLimit.
	MaxAttempts int
	// Retry is the default backoff between attempts. Default
	// DefaultRetryPolicy.
	Retry RetryPolicy
	// MaxArgsBytes caps the encoded args of a job. Default 1 MiB.
	MaxArgsBytes int
	// UnworkedKindsInterval is how often the client counts due jobs in its
	// queues whose kind it has no worker for (and how long they must have
	// waited to count); it logs them and reports them from UnworkedKinds,
	// and never touches them. Default 1m.
	UnworkedKindsInterval time.Duration
	// ShutdownGrace is how long Stop waits, after its context ended and
	// running jobs were cancelled, for them to return before it leaves
	// them to lease expiry. Default 5s.
	ShutdownGrace time.Duration
	// StatsFlushInterval is how often the client writes the per-minute
	// stats it counted in memory (see StatsRecorder), in one write; it
	// writes them at Stop too. Default 5s.
	StatsFlushInterval time.Duration
	// StatsRetention is how long per-minute stats are kept: older minutes
	// are pruned by the maintenance loop (on Redis, their keys expire).
	// Default 7 days (DefaultStatsRetention).
	StatsRetention time.Duration
	// Logger receives the client's logs. Default: discarded.
	Logger *slog.Logger
	// JobTimeout bounds every job run: past it, the job's context is
	// cancelled and the attempt fails with a timeout error (retried by
	// policy). A worker can set its own with a Timeout method
	// (WorkerWithTimeout). 0 means no limit; negative is refused.
	// A handler that ignores its context is given ShutdownGrace more,
	// then its lease is no longer renewed, so the job is rescued and run
	// elsewhere while the stuck run's result is discarded.
	JobTimeout time.Duration
	// Retention is how long this client keeps the jobs it completes in the
	// history, where Admin.ListJobs, FindJob and `pgqueue jobs` see them
	// (state completed) with their output (QueueConfig.Retention overrides
	// it per queue). The store drops them in whole hourly partitions on
	// Postgres, so a job is kept for Retention and at most an hour more.
	// Default 0: a completed job is deleted at once, which keeps the hot
	// table small and completions at their fastest. At most MaxRetention.
	Retention time.Duration
	// Periodic lists jobs this client enqueues on a schedule (see
	// PeriodicJob); they are checked at New. Every client may list the
	// same ones: each tick is enqueued once. Default: none.
	Periodic []PeriodicJob
	// Middleware wraps every job run, the first outermost.
	Middleware []Middleware
	// EnqueueMiddleware wraps every enqueue, the first outermost.
	EnqueueMiddleware []EnqueueMiddleware
}

func (c Config) withDefaults() (Config, error) {
	if c.Queues == nil {
		c.Queues = map[string]QueueConfig{DefaultQueue: {MaxWorkers: defaultMaxWorkers}}
	}
	qs := make(map[string]QueueConfig, len(c.Queues))
	for name, q := range c.Queues {
		if err := checkQueueName("Queues", name, ErrInvalidConfig); err != nil {
			return c, err
		}
		if q.MaxWorkers < 0 {
			return c, invalidConfig("Queues["+name+"].MaxWorkers", "must not be negative, got %d", q.MaxWorkers)
		}
		if q.MaxWorkers == 0 {
			q.MaxWorkers = defaultMaxWorkers
		}
		l, err := QueueLimits{MaxRunning: q.GlobalMaxWorkers, Rate: q.RateLimit}.Normalize(name)
		if err != nil {
			return c, err
		}
		q.RateLimit = l.Rate
		if q.Retention > MaxRetention {
			return c, invalidConfig("Queues["+name+"].Retention", "%v is longer than MaxRetention %v", q.Retention, MaxRetention)
		}
		qs[name] = q
	}
	c.Queues = qs
	if c.ID == "" {
		c.ID = defaultClientID()
	}
	durations := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"LeaseDuration", &c.LeaseDuration, 30 * time.Second},
		{"RescueInterval", &c.RescueInterval, time.Second},
		{"PollInterval", &c.PollInterval, time.Second},
		{"CompleteFlushInterval", &c.CompleteFlushInterval, 2 * time.Millisecond},
		{"ShutdownGrace", &c.ShutdownGrace, 5 * time.Second},
		{"UnworkedKindsInterval", &c.UnworkedKindsInterval, time.Minute},
		{"StatsFlushInterval", &c.StatsFlushInterval, defaultStatsFlushInterval},
		{"StatsRetention", &c.StatsRetention, DefaultStatsRetention},
	}
	if c.LivenessGrace == 0 {
		c.LivenessGrace = defaultLivenessGrace
	}
	for _, d := range durations {
		if *d.v < 0 {
			return c, invalidConfig(d.name, "must not be negative, got %v", *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if c.LeaseDuration < MinLeaseDuration {
		return c, invalidConfig("LeaseDuration", "%v is shorter than the minimum %v", c.LeaseDuration, MinLeaseDuration)
	}
	if c.Retention < 0 || c.Retention > MaxRetention {
		return c, invalidConfig("Retention", "must be between 0 and MaxRetention %v, got %v", MaxRetention, c.Retention)
	}
	if c.JobTimeout < 0 {
		return c, invalidConfig("JobTimeout", "must not be negative, got %v", c.JobTimeout)
	}
	if c.HeartbeatInterval < 0 {
		return c, invalidConfig("HeartbeatInterval", "must not be negative, got %v", c.HeartbeatInterval)
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = c.LeaseDuration / 3
	}
	if c.HeartbeatInterval <= 0 {
		return c, invalidConfig("HeartbeatInterval", "%v derived from LeaseDuration %v must be positive", c.HeartbeatInterval, c.LeaseDuration)
	}
	if c.HeartbeatInterval >= c.LeaseDuration {
		return c, invalidConfig("HeartbeatInterval", "%v must be shorter than LeaseDuration %v", c.HeartbeatInterval, c.LeaseDuration)
	}
	if c.MaxAttempts < 0 {
		return c, invalidConfig("MaxAttempts", "must not be negative, got %d", c.MaxAttempts)
	}
	if c.MaxAttempts > MaxAttemptsLimit {
		return c, invalidConfig("MaxAttempts", "%d exceeds the limit of %d", c.MaxAttempts, MaxAttemptsLimit)
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.MaxArgsBytes < 0 {
		return c, invalidConfig("MaxArgsBytes", "must not be negative, got %d", c.MaxArgsBytes)
	}
	if c.MaxArgsBytes == 0 {
		c.MaxArgsBytes = DefaultMaxArgsBytes
	}
	retry, err := c.Retry.withDefaults()
	if err != nil {
		return c, err
	}
	c.Retry = retry
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Client enqueues jobs and, once started, works them. It is safe for
// concurrent use. A Client that only enqueues needs no workers and starts
// no goroutines.
type Client struct {
	backend Backend
	cfg     Config
	log     *slog.Logger

	mu      sync.Mutex
	workers map[string]workUnit
	started bool
	stopped bool
	engine  *engine
	events  events
}

// New returns a Client over backend. It returns an error wrapping
// ErrInvalidConfig when cfg holds out-of-range values.
func New(backend Backend, cfg Config) (*Client, error) {
	if backend == nil {
		return nil, invalidConfig("backend", "must not be nil")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Client{backend: backend, cfg: cfg, log: cfg.Logger, workers: map[string]workUnit{}}
	if err := c.validatePeriodic(); err != nil {
		return nil, err
	}
	return c, nil
}

// Backend returns the backend the client was built over.
func (c *Client) Backend() Backend { return c.backend }

// Register adds w as the worker for T's kind. It must be called before
// Start. It returns ErrDuplicateKind if the kind has a worker already,
// ErrInvalidArgs if T's Kind is empty, longer than MaxKindBytes, or holds
// a NUL byte or invalid UTF-8, and ErrAlreadyStarted after Start.
func Register[T Args](c *Client, w Worker[T]) error {
	var zero T
	kind, err := kindOf(zero)
	if err != nil {
		return err
	}
	if w == nil {
		return invalidConfig("worker", "must not be nil for kind %q", kind)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started || c.stopped {
		return fmt.Errorf("%w: register %q before Start", ErrAlreadyStarted, kind)
	}
	if _, dup := c.workers[kind]; dup {
		return fmt.Errorf("%w: %q", ErrDuplicateKind, kind)
	}
	unit := &typedUnit[T]{kind: kind, worker: w}
	if wt, ok := w.(WorkerWithTimeout); ok {
		if unit.timeout = wt.Timeout(); unit.timeout <= 0 {
			return invalidConfig("Timeout", "worker for %q returned %v; a job timeout must be positive", kind, unit.timeout)
		}
	}
	if wr, ok := w.(WorkerWithRetry); ok {
		p, err := wr.RetryPolicy().withDefaults()
		if err != nil {
			return fmt.Errorf("worker for %q: %w", kind, err)
		}
		unit.retry = &p
	}
	c.workers[kind] = unit
	return nil
}

// kindOf calls a.Kind(), turning a nil-receiver panic into an error.
func kindOf(a Args) (kind string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = invalidJob("Kind", "calling Kind() panicked: %v (use a non-nil value or a struct type)", r)
		}
	}()
	if a == nil {
		return "", invalidJob("args", "must not be nil")
	}
	kind = a.Kind()
	if kind == "" {
		return "", invalidJob("Kind", "%T.Kind() returned an empty string", a)
	}
	if err := checkText("Kind", kind, MaxKindBytes); err != nil {
		return "", err
	}
	return kind, nil
}

// Enqueue stores one job and returns its ID. It returns an error matching
// ErrInvalidArgs when the args or options are refused (nothing is stored),
// a *DuplicateError (ErrDuplicateJob) with the existing job's ID when the
// job is unique and its key is held,
// ErrClientStopped after Stop, and the backend's error otherwise.
func (c *Client) Enqueue(ctx context.Context, args Args, opts *EnqueueOptions) (int64, error) {
	ids, err := c.EnqueueMany(ctx, []EnqueueRequest{{Args: args, Options: opts}})
	if len(ids) == 1 {
		return ids[0], err
	}
	return 0, err
}

// EnqueueMany stores many jobs in one round trip and returns their IDs in
// order. Either all are stored or, on any error, none — except unique
// jobs whose key is held: those are skipped, the others stored, and a
// *DuplicateError (matching ErrDuplicateJob) is returned with the IDs.
func (c *Client) EnqueueMany(ctx context.Context, reqs []EnqueueRequest) ([]int64, error) {
	params, err := c.prepare(reqs)
	if err != nil {
		return nil, err
	}
	store := c.backend.Insert
	if hasUnique(params) {
		u, ok := c.backend.(UniqueInserter)
		if !ok {
			return nil, invalidJob("Unique", "backend %T does not support unique jobs", c.backend)
		}
		store = func(ctx context.Context, jobs []InsertParams) ([]int64, error) {
			res, err := u.InsertUnique(ctx, jobs)
			if err != nil {
				return nil, err
			}
			return ResultIDs(res)
		}
	}
	ids, err := c.insertThrough(ctx, params, store)
	var dup *DuplicateError
	if errors.As(err, &dup) {
		c.wakeLocal(dueQueues(params)...)
		return ids, err
	}
	if err != nil {
		return nil, err
	}
	// A job enqueued by a client that works its queue needs no round trip
	// through NOTIFY to be picked up.
	c.wakeLocal(dueQueues(params)...)
	return ids, nil
}

// insertThrough runs store behind the enqueue middleware.
func (c *Client) insertThrough(ctx context.Context, params []InsertParams, store EnqueueHandler) ([]int64, error) {
	h := store
	for i := len(c.cfg.EnqueueMiddleware) - 1; i >= 0; i-- {
		h = c.cfg.EnqueueMiddleware[i](h)
	}
	return h(ctx, params)
}

// dueQueues lists, once each, the queues of the jobs that are due now.
func dueQueues(params []InsertParams) []string {
	var out []string
	now := time.Now()
	for _, p := range params {
		if (p.RunAt.IsZero() || !p.RunAt.After(now)) && !slices.Contains(out, p.Queue) {
			out = append(out, p.Queue)
		}
	}
	return out
}

func (c *Client) prepare(reqs []EnqueueRequest) ([]InsertParams, error) {
	c.mu.Lock()
	stopped := c.stopped
	c.mu.Unlock()
	if stopped {
		return nil, ErrClientStopped
	}
	if len(reqs) == 0 {
		return nil, invalidJob("jobs", "no jobs given")
	}
	out := make([]InsertParams, len(reqs))
	for i, r := range reqs {
		p, err := c.prepareOne(r.Args, r.Options)
		if err != nil {
			if len(reqs) > 1 {
				return nil, fmt.Errorf("job %d: %w", i, err)
			}
			return nil, err
		}
		out[i] = p
	}
	return out, nil
}

func (c *Client) prepareOne(args Args, opts *EnqueueOptions) (InsertParams, error) {
	kind, err := kindOf(args)
	if err != nil {
		return InsertParams{}, err
	}
	var o EnqueueOptions
	if d, ok := args.(ArgsWithDefaults); ok {
		o = d.EnqueueDefaults()
	}
	if opts != nil {
		o = mergeOptions(o, *opts)
	}
	if o.Queue == "" {
		o.Queue = DefaultQueue
	}
	if err := checkQueueName("Queue", o.Queue, ErrInvalidArgs); err != nil {
		return InsertParams{}, err
	}
	if o.Priority == 0 {
		o.Priority = DefaultPriority
	}
	if o.Priority < MinPriority || o.Priority > MaxPriority {
		return InsertParams{}, invalidJob("Priority", "%d is outside %d..%d", o.Priority, MinPriority, MaxPriority)
	}
	if o.MaxAttempts < 0 {
		return InsertParams{}, invalidJob("MaxAttempts", "must not be negative, got %d", o.MaxAttempts)
	}
	if o.MaxAttempts > MaxAttemptsLimit {
		return InsertParams{}, invalidJob("MaxAttempts", "%d exceeds the limit of %d", o.MaxAttempts, MaxAttemptsLimit)
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = c.cfg.MaxAttempts
	}
	if o.Delay < 0 {
		return InsertParams{}, invalidJob("Delay", "must not be negative, got %v", o.Delay)
	}
	if o.Delay > 0 && !o.RunAt.IsZero() {
		return InsertParams{}, invalidJob("RunAt", "set RunAt or Delay, not both")
	}
	runAt := o.RunAt
	if o.Delay > 0 {
		runAt = time.Now().Add(o.Delay)
		if !runAt.Before(maxRunAt) {
			return InsertParams{}, invalidJob("Delay", "%v puts the run time past the year %d limit", o.Delay, MaxRunAtYear)
		}
	}
	if !runAt.IsZero() && (!runAt.Before(maxRunAt) || runAt.Before(minRunAt)) {
		return InsertParams{}, invalidJob("RunAt", "%v is outside the years 1 to %d that every backend stores", runAt, MaxRunAtYear-1)
	}
	raw, err := json.Marshal(args)
	if err != nil {
		return InsertParams{}, invalidJob("args", "%s: cannot encode as JSON: %v", kind, err)
	}
	if len(raw) == 0 || raw[0] != '{' {
		return InsertParams{}, invalidJob("args", "%s: must encode as a JSON object, got %.40s", kind, raw)
	}
	if len(raw) > c.cfg.MaxArgsBytes {
		return InsertParams{}, invalidJob("args", "%s: encoded size %d bytes exceeds the %d byte limit", kind, len(raw), c.cfg.MaxArgsBytes)
	}
	if jsonHasNUL(raw) {
		return InsertParams{}, invalidJob("args", "%s: a string holds a NUL character (\\u0000), which Postgres cannot store", kind)
	}
	key, err := uniqueKey(kind, o.Queue, raw, runAt, o.Unique)
	if err != nil {
		return InsertParams{}, err
	}
	if err := checkMetadata(o.Metadata); err != nil {
		return InsertParams{}, err
	}
	return InsertParams{Kind: kind, Queue: o.Queue, Priority: o.Priority, Args: raw, MaxAttempts: o.MaxAttempts, RunAt: runAt, UniqueKey: key, Metadata: maps.Clone(o.Metadata)}, nil
}

func mergeOptions(base, over EnqueueOptions) EnqueueOptions {
	if over.Queue != "" {
		base.Queue = over.Queue
	}
	if over.Priority != 0 {
		base.Priority = over.Priority
	}
	if !over.RunAt.IsZero() || over.Delay != 0 {
		base.RunAt, base.Delay = over.RunAt, over.Delay
	}
	if over.MaxAttempts != 0 {
		base.MaxAttempts = over.MaxAttempts
	}
	if over.Unique != nil {
		base.Unique = over.Unique
	}
	if over.Metadata != nil {
		base.Metadata = over.Metadata
	}
	return base
}
