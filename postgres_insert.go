package pgqueue

// The Postgres backend's batch insert on its own pool, which answers "was
// it stored?" even when the caller's context ends during the commit.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrCommitUnknown is returned when a batch insert's COMMIT got no answer
// and whether it took effect could not be read back either: the jobs may
// or may not be stored. It wraps ErrDatabase. Enqueue with unique keys to
// make a retry safe in that case.
var ErrCommitUnknown = fmt.Errorf("%w: commit outcome unknown", ErrDatabase)

// commitCheckTimeout bounds how long a batch insert whose commit failed
// spends learning whether the commit took effect.
const commitCheckTimeout = 10 * time.Second

// insertAtomic inserts a batch in its own transaction, so that an error
// means that none of the jobs is stored. The ID of the transaction is
// known before COMMIT is sent; when COMMIT fails without an answer (the
// context ended, the connection broke) the outcome is read back from
// Postgres with pg_xact_status on another connection: committed means
// the jobs are stored and their IDs are returned without an error, so a
// caller never retries a batch that is in fact stored. If even that
// cannot be learnt, the error wraps ErrCommitUnknown.
func (b *PostgresBackend) insertAtomic(ctx context.Context, jobs []InsertParams) ([]InsertResult, error) {
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		return nil, dbErr("begin insert", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	res, xact, err := b.insertXact(ctx, tx, jobs)
	if err != nil {
		return nil, err
	}
	commitErr := tx.Commit(ctx)
	if commitErr == nil || xact == 0 {
		// Nothing inserted (every job a duplicate): nothing to lose.
		return res, nil
	}
	var pgErr interface{ SQLState() string }
	if errors.As(commitErr, &pgErr) {
		// Postgres answered: the commit failed and rolled back.
		return nil, dbErr("commit insert", commitErr)
	}
	committed, err := b.xactCommitted(context.WithoutCancel(ctx), xact)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: insert of %d jobs: commit failed (%w) and its outcome could not be read: %w", ErrCommitUnknown, len(jobs), commitErr, err)
	case committed:
		return res, nil
	default:
		return nil, dbErr("commit insert", commitErr)
	}
}

// xactCommitted reports whether transaction xact committed, waiting
// while it is still in progress, for at most commitCheckTimeout.
func (b *PostgresBackend) xactCommitted(ctx context.Context, xact int64) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, commitCheckTimeout)
	defer cancel()
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		var status *string
		err := b.pool.QueryRow(ctx, b.q.XactStatus, xact).Scan(&status)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return false, err
		}
		switch {
		case status == nil:
			return false, fmt.Errorf("transaction %d is too old for its status to be known", xact)
		case *status == "committed":
			return true, nil
		case *status == "aborted":
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(wait):
		}
	}
}
