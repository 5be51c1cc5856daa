package pgqueue

// The Postgres backend's rescue of expired leases, and the dead-letter
// fallback that keeps one unstorable row from blocking every other.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// rescueRowBatch caps how many jobs one rescue moves row by row, the
// slow path taken only after a set-at-a-time statement failed on a row.
const rescueRowBatch = 1000

// Rescue implements Backend. Both moves (requeue, dead-letter) first run
// as one statement each; when one fails on some row's own data, it is
// undone and redone row by row, each row in its own savepoint, so the
// rows that can move still do. A row that cannot be dead-lettered as it
// is goes through the quarantine move (dead_quarantine.sql); a row that
// cannot even be quarantined is left as it is and listed in
// RescueResult.Skipped.
func (b *PostgresBackend) Rescue(ctx context.Context, info AttemptError) (RescueResult, error) {
	var res RescueResult
	errJSON, err := encodeAttemptError(info)
	if err != nil {
		return res, err
	}
	err = pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		res = RescueResult{}
		var locked bool
		if err := tx.QueryRow(ctx, b.q.RescueLock, b.lockKey).Scan(&locked); err != nil || !locked {
			return err
		}
		err := inSavepoint(ctx, tx, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, b.q.RescueRequeue, errJSON, b.channel)
			if err != nil {
				return err
			}
			res.Queues, res.Requeued, err = queueCounts(rows)
			return err
		})
		if isRowError(err) {
			err = b.rescueRows(ctx, tx, false, info, &res)
		}
		if err != nil {
			return err
		}
		err = inSavepoint(ctx, tx, func(tx pgx.Tx) error {
			rows, _ := tx.Query(ctx, b.q.RescueDead, errJSON)
			dead, err := pgx.CollectRows(rows, pgx.RowTo[string])
			res.DeadLettered = len(dead)
			return err
		})
		if isRowError(err) {
			err = b.rescueRows(ctx, tx, true, info, &res)
		}
		return err
	})
	if err != nil {
		return RescueResult{}, dbErr("rescue expired leases", err)
	}
	sort.Strings(res.Queues)
	return res, nil
}

// rescueRows is Rescue's row-by-row path for the jobs to dead-letter
// (dead) or to requeue (!dead): each job moves in its own savepoint, and
// one that fails on its own data is quarantined, or skipped and reported.
func (b *PostgresBackend) rescueRows(ctx context.Context, tx pgx.Tx, dead bool, info AttemptError, res *RescueResult) error {
	type candidate struct{ id, token, attempt int64 }
	rows, _ := tx.Query(ctx, b.q.RescueCandidates, dead, rescueRowBatch)
	cands, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (candidate, error) {
		var c candidate
		err := row.Scan(&c.id, &c.token, &c.attempt)
		return c, err
	})
	if err != nil {
		return err
	}
	for _, c := range cands {
		info.Attempt = int(c.attempt)
		errJSON, err := encodeAttemptError(info)
		if err != nil {
			return err
		}
		var queue string
		err = inSavepoint(ctx, tx, func(tx pgx.Tx) error {
			if dead {
				var id int64
				return tx.QueryRow(ctx, b.q.DeadLetter, c.id, c.token, errJSON, nil).Scan(&id)
			}
			return tx.QueryRow(ctx, b.q.RescueRequeueOne, c.id, c.token, errJSON, b.channel).Scan(&queue, nil)
		})
		switch {
		case err == nil && dead:
			res.DeadLettered++
			continue
		case err == nil:
			res.Requeued++
			if !slices.Contains(res.Queues, queue) {
				res.Queues = append(res.Queues, queue)
			}
			continue
		case !isRowError(err):
			return err
		}
		moveErr := err
		err = inSavepoint(ctx, tx, func(tx pgx.Tx) error {
			return b.quarantine(ctx, tx, c.id, pgtype.Int8{Int64: c.token, Valid: true}, errJSON, "rescue", moveErr)
		})
		switch {
		case err == nil:
			res.DeadLettered++
		case isRowError(err):
			res.Skipped = append(res.Skipped, c.id)
		default:
			return err
		}
	}
	return nil
}

// quarantine runs dead_quarantine.sql on db: it moves job id (held under
// token, or in any state when token is null) to the dead-letter table
// with its kind and queue cut to size, appending the attempt's error
// errJSON and a storage entry saying that op failed with cause. It
// returns pgx.ErrNoRows when the job is not there (or not under token).
func (b *PostgresBackend) quarantine(ctx context.Context, db DBTX, id int64, token pgtype.Int8, errJSON []byte, op string, cause error) error {
	note, err := encodeAttemptError(storageError(op, cause))
	if err != nil {
		return err
	}
	var (
		state string
		sent  pgtype.Bool
	)
	return db.QueryRow(ctx, b.q.DeadQuarantine, id, token, errJSON, note, b.channel).Scan(&state, &sent)
}

// inSavepoint runs fn in a savepoint of tx, released when fn succeeds and
// rolled back when it fails, so that a failed statement leaves tx usable.
func inSavepoint(ctx context.Context, tx pgx.Tx, fn func(pgx.Tx) error) error {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return err
	}
	if err := fn(sp); err != nil {
		if rbErr := sp.Rollback(ctx); rbErr != nil {
			return errors.Join(err, fmt.Errorf("roll back to savepoint: %w", rbErr))
		}
		return err
	}
	return sp.Commit(ctx)
}
