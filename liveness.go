package pgqueue

// Liveness: binding this client's liveness in the store, and rescuing at
// once the jobs of clients whose liveness is gone (see LivenessKeeper).

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"time"
)

// Why a gone liveness is trusted only after a grace period.
//
// A client's liveness vanishes when its process dies, but also, for a
// moment, when a live client's liveness connection is terminated
// (pg_terminate_backend, a pooler or server restart, a failover): the
// client binds it again within a few hundred milliseconds. So the
// absenceWatch acts on a client only when
//   - it has seen the client's liveness bound at least once (a client that
//     never binds it, such as an older version or one in PollOnly mode
//     without a direct connection, is left to its leases);
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
}

// run keeps the liveness bound until ctx ends.
func (k *livenessKeeper) run(ctx context.Context) {
	failures := &failureLog{log: k.log, msg: "pgqueue: liveness connection failed; binding it again", every: time.Minute}
	err := k.store.KeepAlive(ctx, LivenessParams{ClientID: k.clientID, Pooled: k.pooled, Report: failures.report})
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

	seen    map[string]time.Time // client → when its liveness was last seen bound
	gone    map[string]*goneRun  // client → its unbroken run of gone observations
	lastObs time.Time            // the last successful observation; zero after a failure
}

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

func newAbsenceWatch(store LivenessKeeper, interval, grace time.Duration, wake func(...string), log *slog.Logger) *absenceWatch {
	return &absenceWatch{store: store, interval: interval, grace: grace, wake: wake, log: log,
		seen: map[string]time.Time{}, gone: map[string]*goneRun{}}
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
	res, err := w.store.RescueGone(cctx, gone, w.grace, clientGoneError())
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
	cctx, cancel := context.WithTimeout(ctx, max(w.grace, 2*w.interval))
	holders, err := w.store.Holders(cctx)
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
	var gone []string
	for id, live := range holders {
		if live {
			w.seen[id] = now
			continue
		}
		last, ok := w.seen[id]
		if !ok {
			continue // never seen alive: left to its leases
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

// startLiveness starts the liveness loops when the backend has liveness
// and Config.LivenessGrace does not disable it.
func (e *engine) startLiveness() {
	lk, ok := e.backend.(LivenessKeeper)
	if !ok || e.cfg.LivenessGrace < 0 {
		return
	}
	if len(e.queues) > 0 && len(e.kinds) > 0 {
		k := &livenessKeeper{store: lk, clientID: e.cfg.ID, pooled: e.cfg.PollOnly, log: e.c.log}
		goLoop(e.bgCtx, &e.bgWG, k.run)
	}
	w := newAbsenceWatch(lk, e.cfg.RescueInterval, e.cfg.LivenessGrace, e.wakeQueues, e.c.log)
	goLoop(e.loopsCtx, &e.loopsWG, w.run)
}
