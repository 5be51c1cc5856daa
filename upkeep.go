package pgqueue

// The upkeeper: lets a backend that needs it look after its storage, and
// prunes the per-minute stats past their retention.

import (
	"context"
	"log/slog"
	"time"
)

// Stats pruning: at most once per statsPruneEvery per client, in
// statements of statsPruneBatch rows, at most statsPruneBatches of them
// per step, so that pruning a long backlog (a retention just shortened)
// never holds the loop, or locks, for long; what is left goes next time.
const (
	statsPruneEvery   = time.Minute
	statsPruneBatch   = 5000
	statsPruneBatches = 10
)

// maintainEvery is the longest time between two Maintain calls: on
// Postgres each is one read of the table's statistics, and a vacuum due
// (see vacuumMinGap) should not wait a whole poll interval.
const maintainEvery = 250 * time.Millisecond

// upkeeper calls the backend's Maintain (on Postgres: vacuum the jobs
// table when dead rows pile up) every interval, apart from promotion and
// rescue so that a long vacuum never delays either, and prunes the stats
// rollups older than retention.
type upkeeper struct {
	store Maintainer // nil when the backend has no Maintainer
	stats StatsRecorder
	// interval is Config.PollInterval or maintainEvery, whichever is
	// shorter; retention is Config.StatsRetention.
	interval, retention time.Duration
	log                 *slog.Logger
	// lastPrune is when stats were last pruned.
	lastPrune time.Time
}

// newUpkeeper returns the engine's upkeeper, nil when the backend needs
// no upkeep.
func (e *engine) newUpkeeper() *upkeeper {
	m, _ := e.backend.(Maintainer)
	sr, _ := e.backend.(StatsRecorder)
	if m == nil && sr == nil {
		return nil
	}
	return &upkeeper{store: m, stats: sr, interval: min(e.cfg.PollInterval, maintainEvery), retention: e.cfg.StatsRetention, log: e.c.log}
}

// run calls step every interval until ctx ends.
func (u *upkeeper) run(ctx context.Context) { onTicker(ctx, u.interval, u.step) }

// step runs one Maintain, bounded to a minute, and logs its failure; and,
// once per statsPruneEvery, prunes the stats.
func (u *upkeeper) step(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if u.store != nil {
		if err := u.store.Maintain(cctx); err != nil && ctx.Err() == nil {
			u.log.Warn("pgqueue: backend maintenance failed", "err", err)
		}
	}
	if u.stats != nil && time.Since(u.lastPrune) >= statsPruneEvery {
		u.lastPrune = time.Now()
		if _, err := u.pruneStats(cctx, time.Now()); err != nil && ctx.Err() == nil {
			u.log.Warn("pgqueue: pruning old stats failed", "err", err)
		}
	}
}

// pruneStats deletes the rollups of minutes before now minus retention,
// in bounded batches, and returns how many it deleted.
func (u *upkeeper) pruneStats(ctx context.Context, now time.Time) (int, error) {
	before := now.Add(-u.retention).UTC().Truncate(time.Minute)
	total := 0
	for range statsPruneBatches {
		n, err := u.stats.PruneStats(ctx, before, statsPruneBatch)
		total += n
		if err != nil || n < statsPruneBatch {
			return total, err
		}
	}
	return total, nil
}
