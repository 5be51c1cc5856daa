package pgqueue

// The workflow sweeper: applies the failure policy to the dependents of
// workflow tasks that were dead-lettered or cancelled.

import (
	"context"
	"log/slog"
	"time"
)

// workflowSweeper calls the backend's ResolveFailedDependencies every
// interval. A task can fail on many paths (the engine's dead-letter, the
// rescuer, a cancel, a quarantine), so the policy is applied by this one
// sweep rather than on each path; a dependent is cancelled or released
// within about one interval of its dependency's failure.
type workflowSweeper struct {
	store WorkflowStore
	// interval is Config.PollInterval.
	interval time.Duration
	log      *slog.Logger
}

// run steps every interval until ctx ends.
func (w *workflowSweeper) run(ctx context.Context) { onTicker(ctx, w.interval, w.step) }

// step runs one sweep, bounded to a minute, and logs its failure.
func (w *workflowSweeper) step(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	n, err := w.store.ResolveFailedDependencies(cctx)
	switch {
	case err != nil && ctx.Err() == nil:
		w.log.Warn("pgqueue: workflow failure sweep failed", "err", err)
	case n > 0:
		w.log.Debug("pgqueue: workflow dependents of failed tasks cancelled or released", "changed", n)
	}
}
