package memqueue

// The per-minute stats rollups, in memory.

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/pgqueue/pgqueue"
)

var (
	_ pgqueue.StatsRecorder      = (*Backend)(nil)
	_ pgqueue.StatsHistoryReader = (*Backend)(nil)
)

// statsStore holds the rollups by minute, queue and kind, under a lock of
// its own so that stats never wait on the job store's. The zero value is
// empty and ready.
type statsStore struct {
	mu   sync.Mutex
	rows map[statsKey]*pgqueue.StatsRollup
}

type statsKey struct {
	minute      int64
	queue, kind string
}

// RecordStats implements pgqueue.StatsRecorder: it adds rows to the
// stored rollups, all at once, and forgets the rollups older than
// retention by the Backend's clock (see WithClock). It returns an error
// only when ctx is done.
func (b *Backend) RecordStats(ctx context.Context, rows []pgqueue.StatsRollup, retention time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s := &b.stats
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rows == nil {
		s.rows = map[statsKey]*pgqueue.StatsRollup{}
	}
	for _, r := range rows {
		minute := r.Minute.UTC().Truncate(time.Minute)
		k := statsKey{minute.Unix(), r.Queue, r.Kind}
		have := s.rows[k]
		if have == nil {
			have = &pgqueue.StatsRollup{Minute: minute, Queue: r.Queue, Kind: r.Kind}
			s.rows[k] = have
		}
		have.Add(&r)
	}
	if retention > 0 {
		s.prune(b.now().Add(-retention), -1)
	}
	return nil
}

// prune forgets up to limit (all, when negative) rollups of minutes
// before before, and returns how many. The caller holds s.mu.
func (s *statsStore) prune(before time.Time, limit int) int {
	n := 0
	for k, r := range s.rows {
		if n == limit {
			break
		}
		if r.Minute.Before(before) {
			delete(s.rows, k)
			n++
		}
	}
	return n
}

// PruneStats implements pgqueue.StatsRecorder: it forgets up to limit
// rollups of minutes before before. It returns an error only when ctx is
// done, or wrapping pgqueue.ErrInvalidArgs for a limit below 1.
func (b *Backend) PruneStats(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if limit < 1 {
		return 0, fmt.Errorf("%w: memqueue: PruneStats limit must be positive, got %d", pgqueue.ErrInvalidArgs, limit)
	}
	b.stats.mu.Lock()
	defer b.stats.mu.Unlock()
	return b.stats.prune(before, limit), nil
}

// StatsHistory implements pgqueue.StatsHistoryReader: the stored rollups
// summed per step (pgqueue.SumStatsHistory). It returns an error only
// when ctx is done.
func (b *Backend) StatsHistory(ctx context.Context, q pgqueue.StatsHistoryQuery) ([]pgqueue.StatsPoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.stats.mu.Lock()
	rows := make([]pgqueue.StatsRollup, 0, len(b.stats.rows))
	for _, r := range b.stats.rows {
		rows = append(rows, *r)
	}
	b.stats.mu.Unlock()
	return pgqueue.SumStatsHistory(q, rows), nil
}
