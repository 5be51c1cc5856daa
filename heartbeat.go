package pgqueue

// The heartbeater: keeps the leases of this client's running jobs alive.

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"
)

// heartbeater extends the leases of the jobs a client runs, every
// interval, and cancels the runs whose lease the store says is gone (the
// job was rescued, cancelled or finished elsewhere), with cause
// ErrLeaseLost. It runs on the engine's background context, which ends
// last at Stop, so leases stay held while running jobs drain.
type heartbeater struct {
	backend Backend
	running *runningSet
	// interval is Config.HeartbeatInterval; lease, Config.LeaseDuration:
	// each heartbeat extends a lease to lease from now.
	interval, lease time.Duration
	log             *slog.Logger
}

// run heartbeats every interval until ctx ends.
func (h *heartbeater) run(ctx context.Context) { onTicker(ctx, h.interval, h.step) }

// step sends one heartbeat for the held runs and cancels the lost ones.
// Runs that already completed in their own transaction (CompleteTx), or
// that outlived their timeout plus grace, are left out: a run that
// ignores its timeout loses its lease, so the job is rescued and runs
// elsewhere while fencing discards the stuck run.
func (h *heartbeater) step(ctx context.Context) {
	states := h.running.snapshot()
	refs := make([]JobRef, 0, len(states))
	byRef := make(map[JobRef]*jobState, len(states))
	now := time.Now()
	// progress[i] is the new progress of refs[i]; it stays nil (and the
	// plain Heartbeat is used) unless some job reported progress.
	var progress []json.RawMessage
	rr, _ := h.backend.(RunRecorder)
	for _, st := range states {
		if st.completedTx.Load() || st.abandoned(now) {
			continue
		}
		if p := st.takeProgress(); p != nil && rr != nil {
			if progress == nil {
				progress = make([]json.RawMessage, len(refs), len(states))
			}
			progress = append(progress, p)
		} else if progress != nil {
			progress = append(progress, nil)
		}
		refs = append(refs, st.ref)
		byRef[st.ref] = st
	}
	if len(refs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, h.interval)
	var (
		lost []JobRef
		err  error
	)
	if progress != nil {
		lost, err = rr.HeartbeatProgress(ctx, refs, progress, h.lease)
	} else {
		lost, err = h.backend.Heartbeat(ctx, refs, h.lease)
	}
	cancel()
	if err != nil {
		h.log.Warn("pgqueue: heartbeat failed", "jobs", len(refs), "err", err)
		return
	}
	for _, ref := range lost {
		if st := byRef[ref]; st != nil {
			st.stop(ErrLeaseLost)
		}
	}
}
