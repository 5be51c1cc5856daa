package pgqueue

// The stats rollup: what this client's runs ended with, counted in memory
// per minute, queue and kind, and written every StatsFlushInterval in one
// call (StatsRecorder), so that stats cost no write per job.

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// maxPendingStatsRows bounds the rollup rows a client keeps while its
// writes fail (a store outage): past it the oldest minutes are dropped,
// with a warning, rather than growing memory for as long as the outage
// lasts. A flush interval's worth of rows is a few per queue and kind.
const maxPendingStatsRows = 10000

// statsFlushTimeout bounds one RecordStats call.
const statsFlushTimeout = 10 * time.Second

// statsKey identifies one rollup row.
type statsKey struct {
	minute      int64 // Unix seconds of the minute's start
	queue, kind string
}

// statsRollup counts outcomes as runs end (observe, from the worker
// goroutines) and writes them every interval (flush, on its own loop, and
// once more at Stop). A failed write keeps its rows for the next flush.
type statsRollup struct {
	store StatsRecorder
	// interval is Config.StatsFlushInterval, retention
	// Config.StatsRetention.
	interval, retention time.Duration
	failures            *failureLog
	log                 *slog.Logger

	mu      sync.Mutex
	pending map[statsKey]*StatsRollup
	// last is the row the previous observation went to: a busy queue's
	// runs of one kind fall in the same row minute after minute, and
	// finding it again needs no map lookup.
	last    *StatsRollup
	lastKey statsKey
	// flushMu makes flushes one at a time: the loop's and Stop's.
	flushMu sync.Mutex
}

// newStatsRollup returns the engine's rollup, nil when the backend cannot
// store one.
func (e *engine) newStatsRollup() *statsRollup {
	store, ok := e.backend.(StatsRecorder)
	if !ok {
		return nil
	}
	return &statsRollup{store: store, interval: e.cfg.StatsFlushInterval, retention: e.cfg.StatsRetention, log: e.c.log,
		failures: &failureLog{log: e.c.log, msg: "pgqueue: could not write the stats rollup; its counts are kept for the next try", every: time.Minute},
		pending:  map[statsKey]*StatsRollup{}}
}

// observe counts one run of row that ended as kind at at. ran says the
// handler ran (for took, its run time); runs that ended before their
// handler started count without times. Outcomes that do not finish a run
// (snoozed, released) are not counted. Safe on a nil receiver.
func (s *statsRollup) observe(row *JobRow, kind EventKind, ran bool, took time.Duration, at time.Time) {
	if s == nil {
		return
	}
	switch kind {
	case EventCompleted, EventFailed, EventDead, EventCancelled, EventLeaseLost:
	default:
		return
	}
	minute := at.UTC().Truncate(time.Minute)
	s.mu.Lock()
	defer s.mu.Unlock()
	k := statsKey{minute: minute.Unix(), queue: row.Queue, kind: row.Kind}
	r := s.last
	if r == nil || k != s.lastKey {
		if r = s.pending[k]; r == nil {
			r = &StatsRollup{Minute: minute, Queue: row.Queue, Kind: row.Kind}
			s.pending[k] = r
		}
		s.last, s.lastKey = r, k
	}
	switch kind {
	case EventCompleted:
		r.Completed++
	case EventFailed:
		r.Failed++
	case EventDead:
		r.Dead++
	case EventCancelled:
		r.Cancelled++
	case EventLeaseLost:
		r.LeaseLost++
	}
	if ran {
		r.Run.Observe(took)
		r.Wait.Observe(max(row.AttemptedAt.Sub(row.RunAt), 0))
	}
}

// run flushes every interval until ctx ends.
func (s *statsRollup) run(ctx context.Context) {
	onTicker(ctx, s.interval, func(ctx context.Context) { _ = s.flush(ctx) })
}

// flush writes the pending rows in one RecordStats call, bounded by
// statsFlushTimeout, and returns its error (logged, repeats collapsed).
// On an error the rows are kept, added to what was counted meanwhile.
// Safe on a nil receiver.
func (s *statsRollup) flush(ctx context.Context) error {
	if s == nil {
		return nil
	}
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.mu.Lock()
	batch := s.pending
	s.pending = map[statsKey]*StatsRollup{}
	s.last = nil
	s.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	rows := make([]StatsRollup, 0, len(batch))
	for _, r := range batch {
		rows = append(rows, *r)
	}
	sortStatsRows(rows)
	cctx, cancel := context.WithTimeout(ctx, statsFlushTimeout)
	err := s.store.RecordStats(cctx, rows, s.retention)
	cancel()
	if err != nil {
		s.keep(batch)
		if ctxAlive(err) {
			s.failures.report(err)
		}
	}
	return err
}

// keep puts back rows whose write failed, adding them to the rows counted
// since, and drops the oldest minutes past maxPendingStatsRows.
func (s *statsRollup) keep(batch map[statsKey]*StatsRollup) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = nil // the rows it may point to are replaced or dropped below
	for k, r := range batch {
		if now := s.pending[k]; now != nil {
			r.Add(now)
		}
		s.pending[k] = r
	}
	over := len(s.pending) - maxPendingStatsRows
	if over <= 0 {
		return
	}
	keys := make([]statsKey, 0, len(s.pending))
	for k := range s.pending {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].minute < keys[j].minute })
	for _, k := range keys[:over] {
		delete(s.pending, k)
	}
	s.log.Warn("pgqueue: stats rollup writes keep failing; the oldest counts were dropped", "rows", over)
}

// pendingRows returns how many rows wait for the next flush.
func (s *statsRollup) pendingRows() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}
