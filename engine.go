package pgqueue

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// errShutdown is the cancel cause of jobs still running when Stop's
// context ends; errJobTimeout of jobs that outlived their timeout.
var (
	errShutdown   = errors.New("pgqueue: client stopping")
	errJobTimeout = errors.New("pgqueue: job timeout")
)

// engine is the running half of a Client: fetch loops, executors,
// heartbeats, maintenance and the completer. It exists between Start and
// Stop.
type engine struct {
	c       *Client
	backend Backend
	cfg     Config
	kinds   []string
	queues  map[string]*queueWorker

	// loopsCtx ends at Stop: no more claims, listens or maintenance.
	loopsCtx    context.Context
	cancelLoops context.CancelFunc
	loopsWG     sync.WaitGroup
	// jobsCtx is the parent of every job's context; cancelled only when
	// Stop's context ends before the jobs do.
	jobsCtx    context.Context
	cancelJobs context.CancelCauseFunc
	jobsWG     sync.WaitGroup
	// bgCtx carries the backend calls that must finish even while
	// stopping (recording results, heartbeats); it ends last.
	bgCtx     context.Context
	cancelBG  context.CancelFunc
	bgWG      sync.WaitGroup
	completer *completer

	running      runningSet
	promoteKick  chan struct{}
	lastMaintain time.Time
	unworked     unworked
	shuttingDown atomic.Bool
}

type queueWorker struct {
	name    string
	max     int
	active  atomic.Int64
	wake    chan struct{}
	backlog atomic.Bool
	// jobs feeds the queue's max long-lived worker goroutines. Reusing
	// goroutines keeps their grown stacks: a fresh goroutine per job spent
	// a quarter of the client's CPU growing its stack while decoding args.
	// Its buffer holds max rows, so dispatch never blocks.
	jobs chan *JobRow
}

func (q *queueWorker) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// schemaCheckTimeout bounds Start's schema check.
const schemaCheckTimeout = 30 * time.Second

// Start begins working the configured queues with the registered workers,
// and enqueueing Config.Periodic jobs. ctx supplies values (and bounds the
// checks Start makes before it returns): the client runs until Stop. It
// returns ErrNoWorkers when nothing was registered and no periodic job is
// configured, ErrAlreadyStarted when called twice, ErrClientStopped after
// Stop, and, when the backend implements SchemaChecker, its error (on
// Postgres ErrNotMigrated for a schema Migrate was not run on, or
// ErrDatabase when the database cannot be reached): a client that could
// never claim a job must not start and then fail silently.
func (c *Client) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.stopped:
		return ErrClientStopped
	case c.started:
		return ErrAlreadyStarted
	case len(c.workers) == 0 && len(c.cfg.Periodic) == 0:
		return ErrNoWorkers
	}
	if sc, ok := c.backend.(SchemaChecker); ok {
		cctx, cancel := context.WithTimeout(ctx, schemaCheckTimeout)
		err := sc.CheckSchema(cctx)
		cancel()
		if err != nil {
			return fmt.Errorf("pgqueue: start: %w", err)
		}
	}
	if err := c.applyLimits(ctx); err != nil {
		return err
	}
	e := c.newEngine(ctx)
	e.bgWG.Add(2)
	go e.completer.loop()
	go e.heartbeatLoop()
	for _, q := range e.queues {
		for range q.max {
			go e.workLoop(q)
		}
		e.loopsWG.Add(1)
		go e.fetchLoop(q)
	}
	e.loopsWG.Add(2)
	go e.maintenanceLoop()
	go e.upkeepLoop()
	if len(c.cfg.Periodic) > 0 {
		e.loopsWG.Add(1)
		go e.periodicLoop()
	}
	if !c.cfg.PollOnly {
		e.loopsWG.Add(1)
		go e.listenLoop()
	}
	c.started = true
	c.engine = e
	c.log.Info("pgqueue: client started", "version", Version, "client", c.cfg.ID, "queues", len(e.queues), "kinds", e.kinds)
	return nil
}

// newEngine builds an engine with its contexts but starts nothing. ctx
// supplies values only.
func (c *Client) newEngine(ctx context.Context) *engine {
	base := context.WithoutCancel(ctx)
	e := &engine{c: c, backend: c.backend, cfg: c.cfg, queues: map[string]*queueWorker{}, promoteKick: make(chan struct{}, 1)}
	for kind := range c.workers {
		e.kinds = append(e.kinds, kind)
	}
	sort.Strings(e.kinds)
	for name, qc := range c.cfg.Queues {
		e.queues[name] = &queueWorker{name: name, max: qc.MaxWorkers, wake: make(chan struct{}, 1), jobs: make(chan *JobRow, qc.MaxWorkers)}
	}
	e.loopsCtx, e.cancelLoops = context.WithCancel(base)
	e.jobsCtx, e.cancelJobs = context.WithCancelCause(base)
	e.bgCtx, e.cancelBG = context.WithCancel(base)
	e.completer = newCompleter(e)
	return e
}

// Stop stops claiming, waits for running jobs to finish until ctx ends,
// then cancels the jobs still running, puts back in their queues those that
// return within Config.ShutdownGrace (without spending an attempt), and
// leaves any that do not to lease expiry. It flushes pending completions
// before it returns. It returns nil when every job finished in time, and
// an error wrapping ctx's error otherwise. Stop on a client that never
// started only marks it stopped; calling it again returns nil.
func (c *Client) Stop(ctx context.Context) error {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return nil
	}
	c.stopped = true
	e := c.engine
	c.mu.Unlock()
	if e == nil {
		return nil
	}
	return e.stop(ctx)
}

func (e *engine) stop(ctx context.Context) error {
	e.cancelLoops()
	e.loopsWG.Wait()
	// No more claims: let the worker goroutines end once their queue's
	// jobs are done.
	for _, q := range e.queues {
		close(q.jobs)
	}

	drained := make(chan struct{})
	go func() { e.jobsWG.Wait(); close(drained) }()
	var stopErr error
	select {
	case <-drained:
	case <-ctx.Done():
		left := e.running.len()
		e.shuttingDown.Store(true)
		e.cancelJobs(errShutdown)
		grace := time.NewTimer(e.cfg.ShutdownGrace)
		select {
		case <-drained:
			stopErr = fmt.Errorf("pgqueue: stop: %d running job(s) cancelled and released: %w", left, ctx.Err())
		case <-grace.C:
			stopErr = fmt.Errorf("pgqueue: stop: %d job(s) ignored cancellation and are left to lease expiry: %w", e.running.len(), ctx.Err())
		}
		grace.Stop()
	}
	e.completer.close()
	e.cancelBG()
	e.bgWG.Wait()
	e.c.log.Info("pgqueue: client stopped", "client", e.cfg.ID, "err", stopErr)
	return stopErr
}

// wakeQueues pokes the fetch loops of the named queues that this client
// works; "" pokes all of them.
func (e *engine) wakeQueues(names ...string) {
	for _, n := range names {
		if n == "" {
			for _, q := range e.queues {
				q.poke()
			}
			continue
		}
		if q, ok := e.queues[n]; ok {
			q.poke()
		}
	}
}

func (e *engine) fetchLoop(q *queueWorker) {
	defer e.loopsWG.Done()
	t := time.NewTicker(e.pollInterval(q.name))
	defer t.Stop()
	for {
		e.fill(q)
		select {
		case <-e.loopsCtx.Done():
			return
		case <-q.wake:
		case <-t.C:
		}
	}
}

// pollInterval is how often a queue is polled. A queue with global limits
// is polled more often, because slots and tokens free up on other clients
// (or with time) without any wake-up.
func (e *engine) pollInterval(queue string) time.Duration {
	qc := e.cfg.Queues[queue]
	d := e.cfg.PollInterval
	if qc.GlobalMaxWorkers > 0 {
		d = min(d, 50*time.Millisecond)
	}
	if qc.RateLimit != nil {
		// Compared as floats: a tiny PerSecond gives a wait past the int64
		// range, whose conversion to a Duration is undefined.
		if per := float64(time.Second) / qc.RateLimit.PerSecond; per < float64(d) {
			d = max(time.Duration(per), 5*time.Millisecond)
		}
	}
	return d
}

// fill claims as many jobs as the queue has free slots, repeating while
// claims come back full.
func (e *engine) fill(q *queueWorker) {
	for e.loopsCtx.Err() == nil {
		free := q.max - int(q.active.Load())
		if free <= 0 {
			q.backlog.Store(true)
			return
		}
		// The claim runs on bgCtx so that Stop cannot abort it between the
		// database's commit and our receipt of the rows.
		ctx, cancel := context.WithTimeout(e.bgCtx, 10*time.Second)
		rows, err := e.backend.Claim(ctx, ClaimParams{Queue: q.name, Kinds: e.kinds, Limit: free, Lease: e.cfg.LeaseDuration, ClientID: e.cfg.ID})
		cancel()
		if err != nil {
			e.c.log.Warn("pgqueue: claim failed; will retry at the next poll", "queue", q.name, "err", err)
			return
		}
		q.backlog.Store(len(rows) == free)
		for _, row := range rows {
			q.active.Add(1)
			e.jobsWG.Add(1)
			q.jobs <- row
		}
		if len(rows) < free {
			return
		}
	}
}

// workLoop runs the queue's jobs one at a time until the queue closes.
func (e *engine) workLoop(q *queueWorker) {
	for row := range q.jobs {
		e.execute(q, row)
	}
}

func (e *engine) execute(q *queueWorker, row *JobRow) {
	ctx, cancel := context.WithCancelCause(e.jobsCtx)
	st := &jobState{ref: row.Ref(), cancel: cancel, client: e.c}
	defer func() {
		e.running.remove(row.Ref())
		cancel(nil)
		q.active.Add(-1)
		if q.backlog.Load() {
			q.poke()
		}
		e.jobsWG.Done()
	}()
	unit := e.c.workers[row.Kind]
	if unit == nil {
		// Claim filters on our kinds, so this means a backend bug; put the
		// job back untouched rather than burn its attempt.
		e.record(row, "release unknown kind", func(ctx context.Context) error {
			return e.backend.Reschedule(ctx, row.Ref(), RescheduleParams{RefundAttempt: true})
		})
		return
	}
	timeout := e.cfg.JobTimeout
	if t := unit.jobTimeout(); t > 0 {
		timeout = t
	}
	if timeout > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeoutCause(ctx, timeout, errJobTimeout)
		defer stop()
		st.abandonAt = time.Now().Add(saturatingAdd(timeout, e.cfg.ShutdownGrace))
	}
	e.running.add(st)

	meta := metaOf(row)
	h := Handler(func(ctx context.Context, _ *JobMeta) error { return unit.run(ctx, row, st) })
	for i := len(e.cfg.Middleware) - 1; i >= 0; i-- {
		h = e.cfg.Middleware[i](h)
	}
	started := time.Now()
	err := runHandler(ctx, h, meta)
	took := time.Since(started)
	e.finish(ctx, row, st, unit, err, func(ev Event) {
		ev.Job, ev.Duration, ev.At = meta, took, time.Now()
		e.c.events.publish(ev)
	})
}

// runHandler calls h, turning a panic raised in middleware (the worker's
// own panics are caught closer to it) into a *PanicError.
func runHandler(ctx context.Context, h Handler, meta *JobMeta) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: string(debug.Stack())}
		}
	}()
	return h(ctx, meta)
}

// finish records the outcome of one run and publishes its event once the
// outcome is stored (or known not to be): the event reports what was
// stored, never merely what the handler returned. A completion's event
// comes from the completer, after its batch is written.
func (e *engine) finish(ctx context.Context, row *JobRow, st *jobState, unit workUnit, err error, publish func(Event)) {
	cause := context.Cause(ctx)
	if errors.Is(cause, ErrJobCancelled) {
		// The job already sits in the dead-letter store; nothing to record.
		publish(Event{Kind: EventCancelled, Err: err})
		return
	}
	if errors.Is(cause, ErrLeaseLost) {
		e.c.log.Warn("pgqueue: job lease lost while running; its result is dropped", "id", row.ID, "kind", row.Kind, "err", err)
		publish(Event{Kind: EventLeaseLost, Err: err})
		return
	}
	// outcome publishes ev if the write that stored it succeeded, and
	// otherwise says the result was dropped: the job stays running until
	// its lease ends, then is rescued.
	outcome := func(ev Event, werr error) {
		if werr != nil {
			ev = Event{Kind: EventLeaseLost, Err: errors.Join(err, werr)}
		}
		publish(ev)
	}
	if err == nil {
		if st.completedTx.Load() {
			// Stored by CompleteTx in the worker's transaction.
			publish(Event{Kind: EventCompleted})
			return
		}
		recorded := func(werr error) { outcome(Event{Kind: EventCompleted}, werr) }
		if !e.completer.add(row.Ref(), recorded) {
			// Stop's grace ended while the job ran: nothing writes its
			// completion now, and it will run again after its lease.
			e.c.log.Warn("pgqueue: job returned after shutdown; its completion is not recorded and it will run again after its lease", "id", row.ID, "kind", row.Kind)
			recorded(fmt.Errorf("%w: job %d returned after the client stopped; completion not recorded", ErrLeaseLost, row.ID))
		}
		return
	}
	if st.completedTx.Load() {
		// CompleteTx ran, then the handler failed. If the transaction
		// committed, the job is completed and no longer held, so putting it
		// back reports a lost lease: the completion is what was stored. If
		// it rolled back, the job is still held and fails as usual.
		e.finishFailed(ctx, row, unit, err, func(ev Event, werr error) {
			if errors.Is(werr, ErrLeaseLost) {
				publish(Event{Kind: EventCompleted, Err: err})
				return
			}
			outcome(ev, werr)
		})
		return
	}
	e.finishFailed(ctx, row, unit, err, outcome)
}

// finishFailed records a run that returned err (not nil) and calls
// outcome with its event and the error of the write that stored it.
func (e *engine) finishFailed(ctx context.Context, row *JobRow, unit workUnit, err error, outcome func(Event, error)) {
	cause := context.Cause(ctx)
	if errors.Is(cause, errShutdown) {
		werr := e.record(row, "release on shutdown", func(ctx context.Context) error {
			return e.backend.Reschedule(ctx, row.Ref(), RescheduleParams{RefundAttempt: true})
		})
		outcome(Event{Kind: EventReleased, Err: err}, werr)
		return
	}
	var snooze *snoozeError
	if errors.As(err, &snooze) {
		outcome(Event{Kind: EventSnoozed}, e.reschedule(row, RescheduleParams{Delay: snooze.d, RefundAttempt: true}))
		return
	}
	info := AttemptError{Attempt: row.Attempt, At: time.Now().UTC(), Error: errorText(err), Kind: "error"}
	var perr *PanicError
	var derr *DecodeError
	switch {
	case errors.As(err, &derr):
		info.Kind = "decode"
	case errors.As(err, &perr):
		info.Kind, info.Stack = "panic", perr.Stack
	case IsPermanent(err):
		info.Kind = "permanent"
	case errors.Is(cause, errJobTimeout):
		info.Kind = "timeout"
		info.Error = fmt.Sprintf("job timed out: %v", err)
		err = fmt.Errorf("%w: %w", ErrJobTimeout, err)
	case errors.Is(err, context.DeadlineExceeded):
		info.Kind = "timeout"
	}
	// The text is the worker's: it may hold a NUL, which Postgres cannot
	// store, and a failing write would leave the job to lease expiry.
	info.Error, info.Stack = storableText(info.Error), storableText(info.Stack)
	if info.Kind == "decode" || info.Kind == "permanent" || row.Attempt >= row.MaxAttempts {
		e.c.log.Warn("pgqueue: job dead-lettered", "id", row.ID, "kind", row.Kind, "attempt", row.Attempt, "err", info.Error)
		werr := e.record(row, "dead-letter", func(ctx context.Context) error {
			return e.backend.DeadLetter(ctx, row.Ref(), info)
		})
		outcome(Event{Kind: EventDead, Err: err}, werr)
		return
	}
	policy := e.cfg.Retry
	if p := unit.retryPolicy(); p != nil {
		policy = *p
	}
	outcome(Event{Kind: EventFailed, Err: err}, e.reschedule(row, RescheduleParams{Delay: policy.Backoff(row.Attempt), Error: &info}))
}

// reschedule puts the job back by p and returns record's result.
func (e *engine) reschedule(row *JobRow, p RescheduleParams) error {
	werr := e.record(row, "reschedule", func(ctx context.Context) error {
		return e.backend.Reschedule(ctx, row.Ref(), p)
	})
	if werr == nil && p.Delay > 0 {
		// Promote it on time instead of at the next poll.
		time.AfterFunc(p.Delay+5*time.Millisecond, func() {
			select {
			case e.promoteKick <- struct{}{}:
			default:
			}
		})
	}
	return werr
}

// record runs a backend write for a finished job, retrying transient
// failures briefly. If it still fails, the job stays running until its
// lease expires and the rescuer retries it: nothing is lost. It returns
// nil when the write was stored, and the last error (matching
// ErrLeaseLost when the job was no longer held) otherwise.
func (e *engine) record(row *JobRow, what string, op func(ctx context.Context) error) error {
	backoff := 50 * time.Millisecond
	for try := 1; ; try++ {
		ctx, cancel := context.WithTimeout(e.bgCtx, 10*time.Second)
		err := op(ctx)
		cancel()
		switch {
		case err == nil:
			return nil
		case errors.Is(err, ErrLeaseLost):
			e.c.log.Warn("pgqueue: job lease lost before its result was recorded", "id", row.ID, "kind", row.Kind, "op", what)
			return err
		case try >= 5 || e.bgCtx.Err() != nil:
			e.c.log.Error("pgqueue: could not record job result; it will be rescued after its lease", "id", row.ID, "kind", row.Kind, "op", what, "err", err)
			return err
		}
		select {
		case <-time.After(backoff):
		case <-e.bgCtx.Done():
		}
		backoff *= 2
	}
}

func (e *engine) heartbeatLoop() {
	defer e.bgWG.Done()
	t := time.NewTicker(e.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-e.bgCtx.Done():
			return
		case <-t.C:
		}
		states := e.running.snapshot()
		if len(states) == 0 {
			continue
		}
		refs := make([]JobRef, 0, len(states))
		byRef := make(map[JobRef]*jobState, len(states))
		now := time.Now()
		for _, st := range states {
			// A run that ignores its timeout loses its lease, so the job is
			// rescued and runs elsewhere; fencing discards the stuck run.
			if st.completedTx.Load() || (!st.abandonAt.IsZero() && now.After(st.abandonAt)) {
				continue
			}
			refs = append(refs, st.ref)
			byRef[st.ref] = st
		}
		if len(refs) == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(e.bgCtx, e.cfg.HeartbeatInterval)
		lost, err := e.backend.Heartbeat(ctx, refs, e.cfg.LeaseDuration)
		cancel()
		if err != nil {
			e.c.log.Warn("pgqueue: heartbeat failed", "jobs", len(refs), "err", err)
			continue
		}
		for _, ref := range lost {
			if st := byRef[ref]; st != nil {
				st.cancel(ErrLeaseLost)
			}
		}
	}
}

// maintenanceLoop promotes due scheduled jobs, on the poll interval or
// sooner when one is known to fall due.
func (e *engine) maintenanceLoop() {
	defer e.loopsWG.Done()
	promote := time.NewTimer(0)
	defer promote.Stop()
	for {
		select {
		case <-e.loopsCtx.Done():
			return
		case <-promote.C:
		case <-e.promoteKick:
		}
		next := e.cfg.PollInterval
		ctx, cancel := context.WithTimeout(e.loopsCtx, 30*time.Second)
		res, err := e.backend.PromoteDue(ctx)
		cancel()
		if err != nil {
			if e.loopsCtx.Err() == nil {
				e.c.log.Warn("pgqueue: promoting scheduled jobs failed", "err", err)
			}
		} else {
			e.wakeQueues(res.Queues...)
			if res.HasNext && res.NextIn < next {
				next = max(res.NextIn, 0) + time.Millisecond
			}
		}
		if !promote.Stop() {
			select {
			case <-promote.C:
			default:
			}
		}
		promote.Reset(next)
	}
}

// upkeepLoop rescues expired leases and does the slower upkeep (vacuum,
// the unworked-kinds census) apart from promotion, so that a long vacuum
// never delays a retry that falls due.
func (e *engine) upkeepLoop() {
	defer e.loopsWG.Done()
	rescue := time.NewTicker(e.cfg.RescueInterval)
	defer rescue.Stop()
	upkeep := time.NewTicker(e.cfg.PollInterval)
	defer upkeep.Stop()
	for {
		select {
		case <-e.loopsCtx.Done():
			return
		case <-rescue.C:
			e.rescue()
		case <-upkeep.C:
			e.maintain()
			e.censusKinds()
		}
	}
}

// maintain lets a backend that needs upkeep (vacuuming) do it, at most
// once per PollInterval.
func (e *engine) maintain() {
	m, ok := e.backend.(Maintainer)
	if !ok || time.Since(e.lastMaintain) < e.cfg.PollInterval {
		return
	}
	e.lastMaintain = time.Now()
	ctx, cancel := context.WithTimeout(e.loopsCtx, time.Minute)
	defer cancel()
	if err := m.Maintain(ctx); err != nil && e.loopsCtx.Err() == nil {
		e.c.log.Warn("pgqueue: backend maintenance failed", "err", err)
	}
}

func (e *engine) rescue() {
	ctx, cancel := context.WithTimeout(e.loopsCtx, 30*time.Second)
	defer cancel()
	res, err := e.backend.Rescue(ctx, AttemptError{At: time.Now().UTC(), Kind: "lease_expired", Error: "lease expired: the worker holding the job stopped heartbeating (crashed, killed or partitioned)"})
	if err != nil {
		if e.loopsCtx.Err() == nil {
			e.c.log.Warn("pgqueue: rescue failed", "err", err)
		}
		return
	}
	if res.Requeued+res.DeadLettered > 0 {
		e.c.log.Info("pgqueue: rescued jobs with expired leases", "requeued", res.Requeued, "dead_lettered", res.DeadLettered)
		e.wakeQueues(res.Queues...)
	}
}

func (e *engine) listenLoop() {
	defer e.loopsWG.Done()
	wake := func(msg string) {
		if id, ok := parseCancel(msg); ok {
			e.cancelIfCancelled(id)
			return
		}
		e.wakeQueues(msg)
	}
	var err error
	if lr, ok := e.backend.(ListenReporter); ok {
		failures := &failureLog{log: e.c.log, msg: "pgqueue: listener connection failed; polling until it is back", every: time.Minute}
		err = lr.ListenReporting(e.loopsCtx, wake, failures.report)
	} else {
		err = e.backend.Listen(e.loopsCtx, wake)
	}
	if err != nil && !errors.Is(err, ErrListenUnsupported) && e.loopsCtx.Err() == nil {
		e.c.log.Warn("pgqueue: listener ended; polling only", "err", err)
	}
}

func defaultClientID() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	return fmt.Sprintf("%s:%d", host, os.Getpid())
}
