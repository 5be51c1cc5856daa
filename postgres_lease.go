package pgqueue

// The Postgres backend's life-cycle writes on a held job: complete (also
// in the caller's transaction), reschedule, dead-letter, heartbeat.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

func scanRef(row pgx.CollectableRow) (JobRef, error) {
	var r JobRef
	err := row.Scan(&r.ID, &r.Token)
	return r, err
}

func splitRefs(refs []JobRef) (ids, tokens []int64) {
	ids, tokens = make([]int64, len(refs)), make([]int64, len(refs))
	for i, r := range refs {
		ids[i], tokens[i] = r.ID, r.Token
	}
	return ids, tokens
}

// lostRefs returns the refs not in kept.
func lostRefs(refs []JobRef, kept []JobRef) []JobRef {
	seen := make(map[JobRef]bool, len(kept))
	for _, r := range kept {
		seen[r] = true
	}
	var lost []JobRef
	for _, r := range refs {
		if !seen[r] {
			lost = append(lost, r)
		}
	}
	return lost
}

// Complete implements Backend. The statement returns the refs it did not
// complete (sql/complete.sql), so a batch whose leases all held reads no
// rows back.
func (b *PostgresBackend) Complete(ctx context.Context, refs []JobRef) ([]JobRef, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	ids, tokens := splitRefs(refs)
	rows, _ := b.pool.Query(ctx, b.q.Complete, ids, tokens)
	lost, err := pgx.CollectRows(rows, scanRef)
	if err != nil {
		return nil, dbErr("complete jobs", err)
	}
	if len(lost) == 0 {
		return nil, nil
	}
	return lost, nil
}

// Finished implements CompletionChecker: the refs whose job IDs are in
// neither the jobs nor the dead-letter table. ErrDatabase on failure.
func (b *PostgresBackend) Finished(ctx context.Context, refs []JobRef) ([]JobRef, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	ids, _ := splitRefs(refs)
	rows, _ := b.pool.Query(ctx, b.q.JobsFinished, ids)
	gone, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, dbErr("check finished jobs", err)
	}
	finished := make(map[int64]bool, len(gone))
	for _, id := range gone {
		finished[id] = true
	}
	out := make([]JobRef, 0, len(gone))
	for _, r := range refs {
		if finished[r.ID] {
			out = append(out, r)
		}
	}
	return out, nil
}

// CompleteTx implements TxCompleter.
func (b *PostgresBackend) CompleteTx(ctx context.Context, tx DBTX, ref JobRef) error {
	tag, err := tx.Exec(ctx, b.q.CompleteOne, ref.ID, ref.Token)
	if err != nil {
		return dbErr("complete job in transaction", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: job %d", ErrLeaseLost, ref.ID)
	}
	return nil
}

// Reschedule implements Backend. When the statement fails on the job's
// own data (its error history cannot take the new entry), the job is
// rescheduled with a storage entry in place of p.Error, so that it keeps
// its backoff instead of waiting out its lease.
func (b *PostgresBackend) Reschedule(ctx context.Context, ref JobRef, p RescheduleParams) error {
	var errJSON []byte
	if p.Error != nil {
		var err error
		if errJSON, err = encodeAttemptError(*p.Error); err != nil {
			return err
		}
	}
	var n, woke int64
	err := b.pool.QueryRow(ctx, b.q.Reschedule, ref.ID, ref.Token, micros(p.Delay), errJSON, p.RefundAttempt, b.channel, p.KeepRunAt).Scan(&n, &woke)
	if isRowError(err) {
		note := storageError("recording the attempt's error", err)
		if p.Error != nil {
			note.Attempt = p.Error.Attempt
		}
		if errJSON, err = encodeAttemptError(note); err != nil {
			return err
		}
		err = b.pool.QueryRow(ctx, b.q.Reschedule, ref.ID, ref.Token, micros(p.Delay), errJSON, p.RefundAttempt, b.channel, p.KeepRunAt).Scan(&n, &woke)
	}
	if err != nil {
		return dbErr("reschedule job", err)
	}
	if n == 0 {
		return fmt.Errorf("%w: job %d", ErrLeaseLost, ref.ID)
	}
	return nil
}

// Release implements Releaser, in one statement with one NOTIFY per
// queue (sql/release.sql).
func (b *PostgresBackend) Release(ctx context.Context, refs []JobRef) ([]int64, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	ids := make([]int64, len(refs))
	tokens := make([]int64, len(refs))
	for i, r := range refs {
		ids[i], tokens[i] = r.ID, r.Token
	}
	var released []int64
	var woke int64
	if err := b.pool.QueryRow(ctx, b.q.Release, ids, tokens, b.channel).Scan(&released, &woke); err != nil {
		return nil, dbErr("release jobs", err)
	}
	return released, nil
}

// DeadLetter implements Backend. A job that the dead-letter table cannot
// take as it is (see dead_quarantine.sql) is moved there by the
// quarantine path, with the storage error in its history.
func (b *PostgresBackend) DeadLetter(ctx context.Context, ref JobRef, info AttemptError) error {
	return b.deadLetter(ctx, ref, info, nil)
}

// deadLetter is DeadLetter with the output the run recorded (nil: none).
func (b *PostgresBackend) deadLetter(ctx context.Context, ref JobRef, info AttemptError, output json.RawMessage) error {
	errJSON, err := encodeAttemptError(info)
	if err != nil {
		return err
	}
	var id int64
	err = b.pool.QueryRow(ctx, b.q.DeadLetter, ref.ID, ref.Token, errJSON, jsonText(output)).Scan(&id)
	if isRowError(err) {
		err = b.quarantine(ctx, b.pool, ref.ID, pgtype.Int8{Int64: ref.Token, Valid: true}, errJSON, "dead-lettering", err)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: job %d", ErrLeaseLost, ref.ID)
	}
	return dbErr("dead-letter job", err)
}

// Heartbeat implements Backend.
func (b *PostgresBackend) Heartbeat(ctx context.Context, refs []JobRef, lease time.Duration) ([]JobRef, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	ids, tokens := splitRefs(refs)
	rows, _ := b.pool.Query(ctx, b.q.Heartbeat, ids, tokens, micros(lease))
	held, err := pgx.CollectRows(rows, scanRef)
	if err != nil {
		return nil, dbErr("heartbeat", err)
	}
	return lostRefs(refs, held), nil
}
