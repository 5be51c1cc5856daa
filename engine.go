package pgqueue

// The engine: Start and Stop, and the wiring of the background loops.

import (
	"context"
	"errors"
	"fmt"
	"os"
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

// engine is the running half of a Client. It exists between Start and
// Stop, and owns the background loops, each a small type with a run and a
// testable step: a queueFetcher per queue (fetch.go) feeding that queue's
// worker goroutines (run.go), the heartbeater, promoter, rescuer,
// upkeeper, census and stats rollup (heartbeat.go, promote.go, rescue.go,
// upkeep.go, unworked.go, stats_rollup.go), the periodic loop (periodic.go), the listener
// (listenLoop) and the completer (completer.go).
type engine struct {
	c       *Client
	backend Backend
	cfg     Config
	kinds   []string
	queues  map[string]*queueFetcher

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
	promoter     *promoter
	census       *census          // nil when the backend cannot take one
	registrar    *clientRegistrar // nil when the backend has no ClientRegistry
	stats        *statsRollup     // nil when the backend has no StatsRecorder
	shuttingDown atomic.Bool
	// noRecorderWarned makes warnNoRunRecorder log once.
	noRecorderWarned sync.Once
}

// warnNoRunRecorder logs, once, that the backend drops output, progress
// and retention.
func (e *engine) warnNoRunRecorder() {
	e.noRecorderWarned.Do(func() {
		e.c.log.Warn("pgqueue: the backend cannot store output, progress or history (no RunRecorder); they are dropped", "backend", fmt.Sprintf("%T", e.backend))
	})
}

// currentEngine returns the client's running engine; nil before Start.
func (c *Client) currentEngine() *engine {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.engine
}

// onTicker calls step each interval until ctx ends (the first call one
// interval after the start).
func onTicker(ctx context.Context, interval time.Duration, step func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		step(ctx)
	}
}

// goLoop runs loop in its own goroutine, counted by wg, until ctx ends.
func goLoop(ctx context.Context, wg *sync.WaitGroup, loop func(context.Context)) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		loop(ctx)
	}()
}

// schemaCheckTimeout bounds Start's schema check.
const schemaCheckTimeout = 30 * time.Second

// Start begins working the configured queues with the registered workers,
// and enqueueing Config.Periodic jobs. ctx supplies values (and bounds the
// checks Start makes before it returns): the client runs until Stop. It
// returns ErrNoWorkers when nothing was registered and no periodic job is
// configured, ErrAlreadyStarted when called twice, ErrClientStopped after
// Stop, and ErrNotMigrated when the backend implements SchemaChecker and
// its schema was never migrated: a client that could never claim a job
// must not start and then fail silently. A store that cannot be reached at
// Start (a database restarting) is logged, and the client starts and
// retries like in any outage, so that a worker started during one keeps
// running.
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
		switch {
		case errors.Is(err, ErrNotMigrated):
			return fmt.Errorf("pgqueue: start: %w", err)
		case err != nil:
			// A store that is down (restarting, unreachable) is an outage
			// like any other: the loops retry until it answers.
			c.log.Warn("pgqueue: could not check the schema at start; starting anyway, claims retry until the store answers", "err", err)
		}
	}
	if err := c.applyLimits(ctx); err != nil {
		return err
	}
	e := c.newEngine(ctx)
	e.bindLiveness()
	e.registrar.register(ctx)
	hk := newHistoryKeeper(e.backend, e.cfg, c.log)
	if hk != nil && hk.keep > 0 {
		// Ready the history before the first completion: on Postgres a
		// kept job whose hour has no partition lands in the default one,
		// and moving it out later races with completions.
		hk.step(ctx)
	}
	e.bgWG.Add(1)
	go e.completer.loop()
	hb := &heartbeater{backend: e.backend, running: &e.running, interval: e.cfg.HeartbeatInterval, lease: e.cfg.LeaseDuration, log: c.log}
	goLoop(e.bgCtx, &e.bgWG, hb.run)
	for _, q := range e.queues {
		for range q.max {
			go e.workLoop(q)
		}
		goLoop(e.loopsCtx, &e.loopsWG, q.run)
	}
	goLoop(e.loopsCtx, &e.loopsWG, e.promoter.run)
	rs := &rescuer{backend: e.backend, interval: e.cfg.RescueInterval, wake: e.wakeQueues, log: c.log, registrar: e.registrar}
	goLoop(e.loopsCtx, &e.loopsWG, rs.run)
	e.startLiveness()
	if up := e.newUpkeeper(); up != nil {
		goLoop(e.loopsCtx, &e.loopsWG, up.run)
	}
	if hk != nil {
		goLoop(e.loopsCtx, &e.loopsWG, hk.run)
	}
	if ws, ok := e.backend.(WorkflowStore); ok {
		sw := &workflowSweeper{store: ws, interval: e.cfg.PollInterval, keep: e.cfg.WorkflowRetention, log: c.log}
		goLoop(e.loopsCtx, &e.loopsWG, sw.run)
	}
	if e.census != nil {
		goLoop(e.loopsCtx, &e.loopsWG, e.census.run)
	}
	if e.stats != nil {
		goLoop(e.loopsCtx, &e.loopsWG, e.stats.run)
	}
	if len(c.cfg.Periodic) > 0 {
		goLoop(e.loopsCtx, &e.loopsWG, e.periodicLoop)
	}
	if !c.cfg.PollOnly {
		goLoop(e.loopsCtx, &e.loopsWG, e.listenLoop)
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
	e := &engine{c: c, backend: c.backend, cfg: c.cfg, queues: map[string]*queueFetcher{}}
	for kind := range c.workers {
		e.kinds = append(e.kinds, kind)
	}
	sort.Strings(e.kinds)
	e.loopsCtx, e.cancelLoops = context.WithCancel(base)
	e.jobsCtx, e.cancelJobs = context.WithCancelCause(base)
	e.bgCtx, e.cancelBG = context.WithCancel(base)
	for name, qc := range c.cfg.Queues {
		e.queues[name] = e.newQueueFetcher(name, qc.MaxWorkers)
	}
	e.promoter = &promoter{backend: e.backend, interval: e.cfg.PollInterval, kick: make(chan struct{}, 1), wake: e.wakeQueues, log: c.log}
	e.census = e.newCensus()
	e.completer = newCompleter(e)
	e.registrar = e.newClientRegistrar()
	e.stats = e.newStatsRollup()
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
	e.releaseUnstarted()
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
	// Every run has ended and every completion's event is out: write
	// what the rollup still holds (a failure is logged, the counts lost).
	_ = e.stats.flush(e.bgCtx)
	e.cancelBG()
	e.bgWG.Wait()
	e.registrar.unregister(context.WithoutCancel(ctx), e.c.log)
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

// listenLoop passes the backend's wake-ups to the fetchers, and its cancel
// messages to cancelIfCancelled, until ctx ends.
func (e *engine) listenLoop(ctx context.Context) {
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
		err = lr.ListenReporting(ctx, wake, failures.report)
	} else {
		err = e.backend.Listen(ctx, wake)
	}
	if err != nil && !errors.Is(err, ErrListenUnsupported) && ctx.Err() == nil {
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
