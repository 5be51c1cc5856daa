package pgqueue

// The Postgres backend's dead-letter table: list, requeue, purge.

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// deadFilterArgs turns f into the nullable parameters of the dead-letter
// queries: $1 kind, $2 queue, $3 ids, $4 died before, $5 died after.
func deadFilterArgs(f DeadFilter) []any {
	text := func(s string) pgtype.Text { return pgtype.Text{String: s, Valid: s != ""} }
	var ids []int64
	if len(f.IDs) > 0 {
		ids = f.IDs
	}
	return []any{
		text(f.Kind), text(f.Queue), ids,
		pgtype.Timestamptz{Time: f.DiedBefore, Valid: !f.DiedBefore.IsZero()},
		pgtype.Timestamptz{Time: f.DiedAfter, Valid: !f.DiedAfter.IsZero()},
	}
}

// ListDead implements Backend.
func (b *PostgresBackend) ListDead(ctx context.Context, f DeadFilter) ([]*DeadJob, error) {
	rows, _ := b.pool.Query(ctx, b.q.DeadList, append(deadFilterArgs(f), f.EffectiveLimit())...)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*DeadJob, error) {
		var (
			d    DeadJob
			prio int16
			errs []byte
		)
		if err := row.Scan(&d.ID, &d.Kind, &d.Queue, &prio, &d.Args, &d.Attempt, &d.MaxAttempts, &errs, &d.CreatedAt, &d.DiedAt, &d.Metadata); err != nil {
			return nil, err
		}
		d.Priority = int(prio)
		var err error
		d.Errors, err = decodeErrors(d.ID, errs)
		return &d, err
	})
	if err != nil {
		return nil, dbErr("list dead jobs", err)
	}
	return out, nil
}

// RequeueDead implements Backend.
func (b *PostgresBackend) RequeueDead(ctx context.Context, ids []int64) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	return b.RequeueDeadWhere(ctx, DeadFilter{IDs: ids})
}

// RequeueDeadWhere moves every dead-lettered job matching f (Limit is
// ignored; a zero filter matches all) back into its queue, as RequeueDead
// does, and returns how many it moved.
func (b *PostgresBackend) RequeueDeadWhere(ctx context.Context, f DeadFilter) (int, error) {
	rows, err := b.pool.Query(ctx, b.q.DeadRequeue, append(deadFilterArgs(f), b.channel)...)
	if err != nil {
		return 0, dbErr("requeue dead jobs", err)
	}
	_, n, err := queueCounts(rows)
	if err != nil {
		return 0, dbErr("requeue dead jobs", err)
	}
	return n, nil
}

// PurgeDead implements Backend.
func (b *PostgresBackend) PurgeDead(ctx context.Context, f DeadFilter) (int, error) {
	tag, err := b.pool.Exec(ctx, b.q.DeadPurge, deadFilterArgs(f)...)
	if err != nil {
		return 0, dbErr("purge dead jobs", err)
	}
	return int(tag.RowsAffected()), nil
}
