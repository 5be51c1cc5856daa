package pgqueue

// The Postgres backend's operator writes: cancel, pause, resume, queue
// limits, and the once-per-tick periodic enqueue.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// CancelJob implements Canceller. A cancelled job is final: it is not
// retried, and it stays visible in pgqueue_dead_jobs (last error kind
// "cancelled") until requeued or purged.
func (b *PostgresBackend) CancelJob(ctx context.Context, id int64) error {
	info, err := encodeAttemptError(cancelledError())
	if err != nil {
		return err
	}
	var (
		state string
		sent  pgtype.Bool
	)
	err = b.pool.QueryRow(ctx, b.q.JobCancel, id, info, b.channel).Scan(&state, &sent)
	if isRowError(err) {
		// A job the dead-letter table cannot take as it is must still be
		// cancellable.
		err = b.quarantine(ctx, b.pool, id, pgtype.Int8{}, info, "cancelling", err)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: job %d is not in the queue", ErrJobNotFound, id)
	}
	return dbErr("cancel job", err)
}

// PauseQueue implements QueuePauser. The pause is stored in
// pgqueue_queues, checked by every claim. It returns ErrInvalidArgs for a
// bad queue name and ErrDatabase on failure.
func (b *PostgresBackend) PauseQueue(ctx context.Context, queue string) error {
	if err := CheckQueueName(queue); err != nil {
		return err
	}
	_, err := b.pool.Exec(ctx, b.q.QueuePause, queue)
	return dbErr("pause queue", err)
}

// ResumeQueue implements QueuePauser and wakes the queue's workers on
// every client. Errors as for PauseQueue.
func (b *PostgresBackend) ResumeQueue(ctx context.Context, queue string) (bool, error) {
	if err := CheckQueueName(queue); err != nil {
		return false, err
	}
	var (
		was   bool
		woken int64
	)
	err := b.pool.QueryRow(ctx, b.q.QueueResume, queue, b.channel).Scan(&was, &woken)
	return was, dbErr("resume queue", err)
}

// SetQueueLimits implements QueueLimiter.
func (b *PostgresBackend) SetQueueLimits(ctx context.Context, queue string, l QueueLimits) error {
	if err := CheckQueueName(queue); err != nil {
		return err
	}
	l, err := l.Normalize(queue)
	if err != nil {
		return err
	}
	var (
		maxRunning  pgtype.Int4
		rate, burst pgtype.Float8
	)
	if l.MaxRunning > 0 {
		maxRunning = pgtype.Int4{Int32: int32(l.MaxRunning), Valid: true}
	}
	if l.Rate != nil {
		rate = pgtype.Float8{Float64: l.Rate.PerSecond, Valid: true}
		burst = pgtype.Float8{Float64: float64(l.Rate.Burst), Valid: true}
	}
	_, err = b.pool.Exec(ctx, b.q.QueueLimits, queue, maxRunning, rate, burst)
	b.limits.invalidate()
	return dbErr("set queue limits", err)
}

// EnqueuePeriodic implements PeriodicEnqueuer: EnqueuePeriodicNext with
// the next tick unknown.
func (b *PostgresBackend) EnqueuePeriodic(ctx context.Context, name string, tick time.Time, job InsertParams) (int64, bool, error) {
	return b.EnqueuePeriodicNext(ctx, name, tick, time.Time{}, job)
}

// EnqueuePeriodicNext implements PeriodicNextRecorder: the tick's row of
// pgqueue_periodic, with next, and the job, in one transaction. On a
// schema before migration 9 (no next_tick column) it records the tick
// without next. ErrDatabase on failure.
func (b *PostgresBackend) EnqueuePeriodicNext(ctx context.Context, name string, tick, next time.Time, job InsertParams) (int64, bool, error) {
	var nextArg pgtype.Timestamptz
	if !next.IsZero() {
		nextArg = pgtype.Timestamptz{Time: next, Valid: true}
	}
	id, won, err := b.enqueuePeriodic(ctx, job, b.q.PeriodicTick, name, tick, nextArg)
	if isUndefinedColumn(err) {
		// Checked each time rather than remembered: a schema migrated
		// while the client runs gets next ticks from then on.
		id, won, err = b.enqueuePeriodic(ctx, job, b.q.PeriodicTick8, name, tick)
	}
	if err != nil {
		return 0, false, dbErr("enqueue periodic job", err)
	}
	return id, won, nil
}

// enqueuePeriodic runs the tick statement with args and, when it records
// the tick, inserts job, in one transaction.
func (b *PostgresBackend) enqueuePeriodic(ctx context.Context, job InsertParams, stmt string, args ...any) (int64, bool, error) {
	var (
		id  int64
		won bool
	)
	err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		var got string
		err := tx.QueryRow(ctx, stmt, args...).Scan(&got)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		res, err := b.insert(ctx, tx, []InsertParams{job})
		if err != nil {
			return err
		}
		if res[0].Duplicate {
			// A unique key held by an earlier tick's job still running:
			// the tick is recorded, and skipped.
			return nil
		}
		id, won = res[0].ID, true
		return nil
	})
	return id, won, err
}

// CheckSchema implements SchemaChecker: it returns ErrNotMigrated, saying
// how to fix it, when the backend's schema lacks the pgqueue tables, and
// ErrDatabase when the database cannot be reached.
func (b *PostgresBackend) CheckSchema(ctx context.Context) error { return b.checkMigrated(ctx) }
