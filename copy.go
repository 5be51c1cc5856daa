package pgqueue

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// CopyDBTX is what EnqueueManyFastTx needs from the caller's handle:
// DBTX plus COPY. pgx.Tx, *pgx.Conn and *pgxpool.Pool all satisfy it.
type CopyDBTX interface {
	DBTX
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, rows pgx.CopyFromSource) (int64, error)
}

var copyColumns = []string{"state", "queue", "kind", "priority", "args", "max_attempts", "run_at", "metadata"}

// EnqueueManyFast stores many jobs with the backend's fastest bulk path and
// returns how many it stored. On Postgres that is COPY, followed by one
// NOTIFY per queue; unlike EnqueueMany it returns no job IDs. Other
// backends use their ordinary insert. Errors are those of EnqueueMany; on
// Postgres a failure stores none of the jobs.
func (c *Client) EnqueueManyFast(ctx context.Context, reqs []EnqueueRequest) (int, error) {
	pg, ok := c.backend.(*PostgresBackend)
	if !ok {
		return stored(c.EnqueueMany(ctx, reqs))
	}
	params, err := c.prepare(reqs)
	if err != nil {
		return 0, err
	}
	if hasUnique(params) {
		// COPY cannot skip duplicates; unique jobs take the insert path.
		return stored(c.EnqueueMany(ctx, reqs))
	}
	tx, err := pg.pool.Begin(ctx)
	if err != nil {
		return 0, dbErr("begin", err)
	}
	defer tx.Rollback(ctx)
	n, err := pg.copyInsert(ctx, tx, params)
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, dbErr("commit", err)
	}
	c.wakeLocal(dueQueues(params)...)
	return n, nil
}

// EnqueueManyFastTx is EnqueueManyFast inside the caller's transaction: the
// jobs exist if and only if tx commits, and workers are woken at commit.
// It returns ErrTxUnsupported on a backend other than Postgres.
func (c *Client) EnqueueManyFastTx(ctx context.Context, tx CopyDBTX, reqs []EnqueueRequest) (int, error) {
	pg, err := c.postgres()
	if err != nil {
		return 0, err
	}
	if tx == nil {
		return 0, invalidJob("tx", "must not be nil")
	}
	params, err := c.prepare(reqs)
	if err != nil {
		return 0, err
	}
	if hasUnique(params) {
		return stored(c.EnqueueManyTx(ctx, tx, reqs))
	}
	return pg.copyInsert(ctx, tx, params)
}

// copyInsert COPYs jobs into the jobs table on db and sends one NOTIFY per
// queue that received due jobs.
func (b *PostgresBackend) copyInsert(ctx context.Context, db CopyDBTX, jobs []InsertParams) (int, error) {
	now := time.Now()
	rows := make([][]any, len(jobs))
	for i, j := range jobs {
		state, runAt := StateAvailable, j.RunAt
		if runAt.IsZero() {
			runAt = now
		} else if runAt.After(now) {
			state = StateScheduled
		}
		var meta any
		if len(j.Metadata) > 0 {
			meta = j.Metadata
		}
		rows[i] = []any{string(state), j.Queue, j.Kind, int16(j.Priority), string(j.Args), int32(j.MaxAttempts), runAt, meta}
	}
	n, err := db.CopyFrom(ctx, pgx.Identifier{b.schema, "pgqueue_jobs"}, copyColumns, pgx.CopyFromRows(rows))
	if err != nil {
		return 0, dbErr("copy jobs", err)
	}
	if queues := dueQueues(jobs); len(queues) > 0 {
		if _, err := db.Exec(ctx, b.q.NotifyQueues, b.channel, queues); err != nil {
			return 0, dbErr("notify", err)
		}
	}
	return int(n), nil
}

// stored counts the jobs an EnqueueMany stored, keeping its error.
func stored(ids []int64, err error) (int, error) {
	var dup *DuplicateError
	if errors.As(err, &dup) {
		return len(ids) - len(dup.Indexes), err
	}
	return len(ids), err
}
