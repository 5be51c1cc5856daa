package pgqueue

// The rescuer: gives back the jobs of workers that stopped heartbeating.

import (
	"context"
	"log/slog"
	"time"
)

// rescuer asks the store, every interval, to requeue or dead-letter the
// running jobs whose lease ended (Backend.Rescue), and wakes the queues
// that got jobs back. Any client may rescue; the store lets one at a time.
type rescuer struct {
	backend Backend
	// interval is Config.RescueInterval.
	interval time.Duration
	wake     func(queues ...string)
	log      *slog.Logger
	// registrar, when not nil, refreshes this client's registry entry on
	// this loop (see clientRegistrar.refresh).
	registrar *clientRegistrar
}

// leaseExpiredError is the error-history entry of a rescued job.
func leaseExpiredError() AttemptError {
	return AttemptError{At: time.Now().UTC(), Kind: "lease_expired", Error: "lease expired: the worker holding the job stopped heartbeating (crashed, killed or partitioned)"}
}

// run rescues every interval until ctx ends.
func (r *rescuer) run(ctx context.Context) { onTicker(ctx, r.interval, r.step) }

// step runs one rescue (see rescue), and refreshes the registry entry.
func (r *rescuer) step(ctx context.Context) {
	r.rescue(ctx)
	r.registrar.refresh(ctx)
}

// rescue runs one rescue, logs what it did (and any job the store had to
// skip), wakes the queues that got jobs back, and returns what it did.
func (r *rescuer) rescue(ctx context.Context) RescueResult {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := r.backend.Rescue(cctx, leaseExpiredError())
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("pgqueue: rescue failed", "err", err)
		}
		return res
	}
	reportRescue(r.log, r.wake, res, "pgqueue: rescued jobs with expired leases")
	return res
}

// reportRescue logs what a rescue (of expired leases, or of gone clients'
// jobs) did, and any job the store had to skip, and wakes the queues that
// got jobs back.
func reportRescue(log *slog.Logger, wake func(...string), res RescueResult, msg string, attrs ...any) {
	if res.Requeued+res.DeadLettered > 0 {
		log.Info(msg, append(attrs, "requeued", res.Requeued, "dead_lettered", res.DeadLettered)...)
		wake(res.Queues...)
	}
	if len(res.Skipped) > 0 {
		log.Error("pgqueue: jobs held by a gone worker could be neither requeued nor dead-lettered; they are left running for an operator", append(attrs, "ids", res.Skipped)...)
	}
}
