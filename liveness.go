package pgqueue

// Liveness: binding this client's liveness in the store, and rescuing at
// once the jobs of clients whose liveness is gone (see LivenessKeeper).

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// Why a gone liveness is trusted only after a grace period.
//
// A client's liveness vanishes when its process dies, but also, for a
// moment, when a live client's liveness connection is terminated
// (pg_terminate_backend, a pooler or server restart, a failover): the
// client binds it again within a few hundred milliseconds. So the
// absenceWatch acts on a client only when
//   - it has seen the client's liveness bound at least once, or the
//     client declared in its registry entry that it bound its liveness
//     before its first claim (ClientInfo.Liveness: every client of this
//     version that binds liveness does, so a worker killed right after
//     its start is covered too). A client that never binds it, such as an
//     older version or one in PollOnly mode without a direct connection,
//     is left to its leases;
//   - at least two observations in a row found it gone, and LivenessGrace
//     has passed since it was last seen bound (by the observation just
//     before them; else since the first of them), with no failed
//     observation and no gap longer than the grace between two of them
//     (a store outage, or this process stalling, starts the count again);
//   - and the store, as it moves each job, finds the liveness still gone
//     and the job claimed more than LivenessGrace ago.
// A live client that could not bind its liveness again within the grace
// loses its jobs as it would on a lease expiry: fencing discards whatever
// its runs try to record, and its next heartbeat cancels them.

// livenessKeeper holds this client's liveness through the backend until
// its context ends: the engine's background context, which ends last at
// Stop, so a client stays alive while its running jobs drain.
type livenessKeeper struct {
	store    LivenessKeeper
	clientID string
	pooled   bool
	log      *slog.Logger
	// bound is closed when the liveness is first bound, ended when run
	// returns (KeepAlive could not bind it, or ctx ended).
	bound, ended chan struct{}
	boundOnce    sync.Once
}

func newLivenessKeeper(store LivenessKeeper, clientID string, pooled bool, log *slog.Logger) *livenessKeeper {
	return &livenessKeeper{store: store, clientID: clientID, pooled: pooled, log: log,
		bound: make(chan struct{}), ended: make(chan struct{})}
}

// livenessStartWait bounds how long Start waits for the liveness to be
// bound before the client claims anything. A client that claims first
// declares no liveness until it is bound, and one killed meanwhile has
// its jobs wait for their leases.
const livenessStartWait = 2 * time.Second

// waitBound waits until the liveness is bound (true), KeepAlive gave up,
// or livenessStartWait passed (false).
func (k *livenessKeeper) waitBound() bool {
	t := time.NewTimer(livenessStartWait)
	defer t.Stop()
	select {
	case <-k.bound:
		return true
	case <-k.ended:
	case <-t.C:
	}
	select {
	case <-k.bound:
		return true
	default:
		return false
	}
}

// run keeps the liveness bound until ctx ends.
func (k *livenessKeeper) run(ctx context.Context) {
	defer close(k.ended)
	failures := &failureLog{log: k.log, msg: "pgqueue: liveness connection failed; binding it again", every: time.Minute}
	bound := func() { k.boundOnce.Do(func() { close(k.bound) }) }
	err := k.store.KeepAlive(ctx, LivenessParams{ClientID: k.clientID, Pooled: k.pooled, Report: failures.report, Bound: bound})
	switch {
	case errors.Is(err, ErrUnsupported):
		k.log.Info("pgqueue: no liveness binding; the jobs of a client that dies run again when their leases end", "reason", err)
	case err != nil && ctx.Err() == nil:
		k.log.Warn("pgqueue: liveness ended; the jobs of a client that dies run again when their leases end", "err", err)
	}
}

// absenceWatch watches, every interval, whether the clients that hold
// running jobs have their liveness bound, and has the store rescue the
// jobs of those gone for grace (see the comment above).
type absenceWatch struct {
	store LivenessKeeper
	// interval is Config.RescueInterval; grace, Config.LivenessGrace.
	interval, grace time.Duration
	wake            func(queues ...string)
	log             *slog.Logger

	seen    map[string]time.Time // client → when its liveness was last seen bound (zero: declared, never seen)
	gone    map[string]*goneRun  // client → its unbroken run of gone observations
	lastObs time.Time            // the last successful observation; zero after a failure

	// registry, when the backend has one, tells which holders never seen
	// alive declared their liveness (ClientInfo.Liveness): their absence
	// counts as if they had been seen. asked is when each such holder
	// was last looked up and found undeclared.
	registry ClientRegistry
	asked    map[string]time.Time

	// self is this client's ID: a client that observes is alive, so its
	// own liveness found missing means its connection blinked, and its
	// jobs are never rescued by its own watch (other clients' watches
	// keep the grace rule for it).
	self string
}

// declaredRecheck is how often a holder found undeclared in the registry
// is looked up again: an old client's jobs would otherwise cost a registry
// read at every observation.
const declaredRecheck = ClientSeenInterval

// observeTries is how many times one observation asks the store before
// it counts as failed (rescueGoneTries, one rescue of gone clients), waiting
// observeRetryWait after the first failure and twice as long after each
// later one: enough to get past the dead connections a pool kept after
// every session it held was terminated at once.
const (
	observeTries     = 6
	observeRetryWait = 10 * time.Millisecond
	rescueGoneTries  = 2
)

// goneRun is a client's unbroken run of observations finding its
// liveness gone: since is the observation before the first of them when
// that one saw it bound (the last sighting), else the first of them.
type goneRun struct {
	since time.Time
	count int
}

// seenMemory is how long the watch remembers a client it saw alive but
// that no longer holds running jobs.
const seenMemory = 10 * time.Minute

// clientGoneError is the error-history entry of a job rescued because its
// holder's liveness was gone.
func clientGoneError() AttemptError {
	return AttemptError{At: time.Now().UTC(), Kind: "client_gone", Error: "the client holding the job is gone: its liveness in the store vanished (the process died or lost its connection) and stayed gone for the grace period"}
}

func newAbsenceWatch(store LivenessKeeper, self string, interval, grace time.Duration, wake func(...string), log *slog.Logger) *absenceWatch {
	return &absenceWatch{store: store, self: self, interval: interval, grace: grace, wake: wake, log: log,
		seen: map[string]time.Time{}, gone: map[string]*goneRun{}, asked: map[string]time.Time{}}
}

// run watches every interval until ctx ends.
func (w *absenceWatch) run(ctx context.Context) { onTicker(ctx, w.interval, w.step) }

// step makes one observation, and rescues the jobs of the clients gone
// for the grace period.
func (w *absenceWatch) step(ctx context.Context) {
	gone := w.observe(ctx)
	if len(gone) == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// Asked once more if it fails: RescueGone moves jobs in one
	// transaction, so a try that failed moved nothing, and the next one
	// checks every condition afresh. Once, not observeTries times: the
	// observation just before cleared the pool of cut connections, and a
	// rescue refused by a job's own data would fail every time (that job
	// is left to its lease).
	var res RescueResult
	err := retryWithBackoff(cctx, rescueGoneTries, observeRetryWait, nil, func(int) error {
		var err error
		res, err = w.store.RescueGone(cctx, gone, w.grace, clientGoneError())
		return err
	})
	if err != nil {
		if ctx.Err() == nil {
			w.log.Warn("pgqueue: rescue of gone clients' jobs failed; their leases will end", "clients", gone, "err", err)
		}
		return
	}
	reportRescue(w.log, w.wake, res, "pgqueue: rescued the jobs of gone clients", "clients", gone)
}

// observe asks the store which holders are alive, updates the watch's
// memory, and returns the clients gone for the grace period, sorted.
func (w *absenceWatch) observe(ctx context.Context) []string {
	// A query that fails on a pooled connection cut under it (a
	// terminated session, a pooler or server restart) is asked again on
	// another: counting the blink as a failed observation would restart
	// the grace of every gone client. Holders only reads.
	cctx, cancel := context.WithTimeout(ctx, max(w.grace, 2*w.interval))
	var holders map[string]bool
	err := retryWithBackoff(cctx, observeTries, observeRetryWait, nil, func(int) error {
		var err error
		holders, err = w.store.Holders(cctx)
		return err
	})
	cancel()
	now := time.Now()
	if err != nil {
		// What happened meanwhile is unknown: count again from scratch.
		clear(w.gone)
		w.lastObs = time.Time{}
		if ctx.Err() == nil {
			w.log.Debug("pgqueue: liveness observation failed", "err", err)
		}
		return nil
	}
	prev := w.lastObs
	if prev.IsZero() || now.Sub(prev) > max(w.grace, 2*w.interval) {
		// A gap (this process stalled, or the store was away): what the
		// clients did meanwhile is unknown.
		clear(w.gone)
		prev = time.Time{}
	}
	w.lastObs = now
	for id := range w.gone {
		if live, ok := holders[id]; !ok || live {
			delete(w.gone, id)
		}
	}
	for id, at := range w.seen {
		if _, ok := holders[id]; !ok && now.Sub(at) > seenMemory {
			delete(w.seen, id)
		}
	}
	w.lookUpDeclared(ctx, holders, now)
	var gone []string
	for id, live := range holders {
		if live || id == w.self {
			w.seen[id] = now
			continue
		}
		last, ok := w.seen[id]
		if !ok {
			continue // never seen alive, nor declared: left to its leases
		}
		run := w.gone[id]
		if run == nil {
			// Counted from the last sighting when it was the previous
			// observation, else from now.
			run = &goneRun{since: now}
			if !prev.IsZero() && last.Equal(prev) {
				run.since = last
			}
			w.gone[id] = run
		}
		run.count++
		if run.count >= 2 && now.Sub(run.since) >= w.grace {
			gone = append(gone, id)
		}
	}
	sort.Strings(gone)
	return gone
}

// lookUpDeclared asks the registry about the holders whose liveness is
// gone and that this watch never saw alive, and remembers those that
// declared their liveness as seen (at the zero time: their run of gone
// observations counts from the first of them).
func (w *absenceWatch) lookUpDeclared(ctx context.Context, holders map[string]bool, now time.Time) {
	if w.registry == nil {
		return
	}
	var unknown []string
	for id, live := range holders {
		if _, seen := w.seen[id]; !live && !seen && now.Sub(w.asked[id]) >= declaredRecheck {
			unknown = append(unknown, id)
		}
	}
	for id, at := range w.asked {
		if now.Sub(at) >= declaredRecheck {
			delete(w.asked, id)
		}
	}
	if len(unknown) == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, registryTimeout)
	clients, err := w.registry.Clients(cctx, ClientStaleAfter)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			w.log.Debug("pgqueue: could not read the client registry; clients never seen alive are left to their leases", "err", err)
		}
		return
	}
	declared := make(map[string]bool, len(clients))
	for _, c := range clients {
		declared[c.ID] = c.Liveness
	}
	for _, id := range unknown {
		if declared[id] {
			w.seen[id] = time.Time{}
		} else {
			w.asked[id] = now
		}
	}
}

// bindLiveness binds this client's liveness before it claims anything,
// when the backend has liveness, Config.LivenessGrace does not disable
// it and the client works queues: it starts the keeper, waits until the
// liveness is bound (at most livenessStartWait), and records in the
// registry entry whether it was (ClientInfo.Liveness). A liveness bound
// later is declared then, by registering again.
func (e *engine) bindLiveness() {
	lk, ok := e.backend.(LivenessKeeper)
	if !ok || e.cfg.LivenessGrace < 0 || len(e.queues) == 0 || len(e.kinds) == 0 {
		return
	}
	k := newLivenessKeeper(lk, e.cfg.ID, e.cfg.PollOnly, e.c.log)
	goLoop(e.bgCtx, &e.bgWG, k.run)
	if k.waitBound() {
		e.registrar.setLiveness()
		return
	}
	// Declared when it is bound after all, by registering again; nothing
	// to declare if KeepAlive gives up first.
	go func() {
		select {
		case <-k.bound:
			if e.registrar.setLiveness() {
				e.registrar.register(e.bgCtx)
			}
		case <-k.ended:
		}
	}()
}

// startLiveness starts the absence watch when the backend has liveness
// and Config.LivenessGrace does not disable it.
func (e *engine) startLiveness() {
	lk, ok := e.backend.(LivenessKeeper)
	if !ok || e.cfg.LivenessGrace < 0 {
		return
	}
	w := newAbsenceWatch(lk, e.cfg.ID, e.cfg.RescueInterval, e.cfg.LivenessGrace, e.wakeQueues, e.c.log)
	if reg, ok := e.backend.(ClientRegistry); ok {
		w.registry = reg
	}
	goLoop(e.loopsCtx, &e.loopsWG, w.run)
}
