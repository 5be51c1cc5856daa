package pgqueue

// The history keeper: readies and prunes the store's history of completed
// jobs (Config.Retention).

import (
	"context"
	"log/slog"
	"time"
)

// HistoryUpkeepInterval is how often a started client calls the backend's
// HistoryKeeper.MaintainHistory: often enough that the next hour's
// partition exists well before its first completion, and that a dropped
// hour goes within a minute of its keep time.
const HistoryUpkeepInterval = time.Minute

// historyKeeper calls MaintainHistory with the client's longest retention
// at start and every interval.
type historyKeeper struct {
	store HistoryKeeper
	// keep is the longest retention of the client's queues (0: none).
	keep     time.Duration
	interval time.Duration
	log      *slog.Logger
}

// newHistoryKeeper returns the keeper for cfg, or nil when the backend has
// no history.
func newHistoryKeeper(b Backend, cfg Config, log *slog.Logger) *historyKeeper {
	hk, ok := b.(HistoryKeeper)
	if !ok {
		return nil
	}
	keep := cfg.Retention
	for name := range cfg.Queues {
		keep = max(keep, cfg.retentionFor(name))
	}
	return &historyKeeper{store: hk, keep: keep, interval: HistoryUpkeepInterval, log: log}
}

// run steps every interval until ctx ends. Start makes the first step
// itself, before any job runs (see engine.start).
func (h *historyKeeper) run(ctx context.Context) { onTicker(ctx, h.interval, h.step) }

// step runs one MaintainHistory, bounded to a minute, and logs what it did.
func (h *historyKeeper) step(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	r, err := h.store.MaintainHistory(cctx, h.keep)
	switch {
	case err != nil && ctx.Err() == nil:
		h.log.Warn("pgqueue: history upkeep failed", "err", err)
	case r.Made > 0 || r.Dropped > 0:
		h.log.Debug("pgqueue: history upkeep", "made", r.Made, "dropped", r.Dropped)
	}
}
