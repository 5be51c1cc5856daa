package pgqueue

// The Postgres backend's per-minute stats (pgqueue_stats, migration 9):
// one statement adds a client's rollup rows, one reads the history
// summed per step, one prunes a batch of old rows.

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// RecordStats implements StatsRecorder: it adds rows to pgqueue_stats in
// one INSERT ... ON CONFLICT DO UPDATE, so a write is all or nothing.
// retention is not used here: the maintenance loop prunes (PruneStats).
// It returns ErrDatabase when the statement fails (before migration 9:
// the table is missing).
func (b *PostgresBackend) RecordStats(ctx context.Context, rows []StatsRollup, retention time.Duration) error {
	rows = mergeStatsRows(rows)
	if len(rows) == 0 {
		return nil
	}
	n := len(rows)
	var (
		minutes                                     = make([]time.Time, n)
		queues, kinds                               = make([]string, n), make([]string, n)
		completed, failed, dead, cancelled, leaseLo = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		run, wait                                   = make([]int64, 0, n*StatsBucketCount), make([]int64, 0, n*StatsBucketCount)
	)
	for i, r := range rows {
		minutes[i], queues[i], kinds[i] = r.Minute.UTC().Truncate(time.Minute), r.Queue, r.Kind
		completed[i], failed[i], dead[i], cancelled[i], leaseLo[i] = r.Completed, r.Failed, r.Dead, r.Cancelled, r.LeaseLost
		run, wait = append(run, r.Run[:]...), append(wait, r.Wait[:]...)
	}
	_, err := b.pool.Exec(ctx, b.q.StatsRecord, minutes, queues, kinds, completed, failed, dead, cancelled, leaseLo, run, wait, StatsBucketCount)
	return dbErr("record stats", err)
}

// mergeStatsRows sums rows of the same minute, queue and kind (one
// statement cannot update a row twice) and sorts them, so that clients
// writing the same minute lock its rows in the same order.
func mergeStatsRows(rows []StatsRollup) []StatsRollup {
	type key struct {
		minute      int64
		queue, kind string
	}
	at := map[key]int{}
	var out []StatsRollup
	for _, r := range rows {
		k := key{r.Minute.Truncate(time.Minute).Unix(), r.Queue, r.Kind}
		if i, ok := at[k]; ok {
			out[i].Add(&r)
			continue
		}
		at[k] = len(out)
		out = append(out, r)
	}
	sortStatsRows(out)
	return out
}

// StatsHistory implements StatsHistoryReader: one statement, bounded by
// ListTimeout like the other operator reads, sums the rows per step
// (buckets element by element); the percentiles and the empty steps are
// filled in Go. It returns ErrDatabase when
// the statement fails (before migration 9: the table is missing).
func (b *PostgresBackend) StatsHistory(ctx context.Context, q StatsHistoryQuery) ([]StatsPoint, error) {
	queues := q.Queues
	if queues == nil {
		queues = []string{}
	}
	steps := statsSteps(q)
	err := b.bounded(ctx, "read stats history", func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, b.q.StatsHistory, q.From, q.To, micros(q.Step), q.From.Truncate(q.Step), queues)
		var (
			r         StatsRollup
			run, wait []int64
		)
		_, err := pgx.ForEachRow(rows, []any{&r.Minute, &r.Completed, &r.Failed, &r.Dead, &r.Cancelled, &r.LeaseLost, &run, &wait}, func() error {
			clear(r.Run[:])
			clear(r.Wait[:])
			copy(r.Run[:], run)
			copy(r.Wait[:], wait)
			if k := stepIndex(q, r.Minute); k >= 0 && k < len(steps) {
				steps[k].Add(&r)
			}
			return nil
		})
		return dbErr("read stats history", err)
	})
	if err != nil {
		return nil, err
	}
	return statsPoints(steps), nil
}

// PruneStats implements StatsRecorder: it deletes up to limit rows of
// minutes before before, oldest first. ErrDatabase when it fails.
func (b *PostgresBackend) PruneStats(ctx context.Context, before time.Time, limit int) (int, error) {
	tag, err := b.pool.Exec(ctx, b.q.StatsPrune, before, limit)
	if err != nil {
		return 0, dbErr("prune stats", err)
	}
	return int(tag.RowsAffected()), nil
}
