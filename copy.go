package pgqueue

// EnqueueManyFast and EnqueueManyFastTx: the bulk path without IDs, over
// a backend's CopyInserter.

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// CopyDBTX is what EnqueueManyFastTx needs from the caller's handle:
// DBTX plus COPY. pgx.Tx, *pgx.Conn and *pgxpool.Pool all satisfy it.
type CopyDBTX interface {
	DBTX
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, rows pgx.CopyFromSource) (int64, error)
}

// EnqueueManyFast stores many jobs with the backend's fastest bulk path and
// returns how many it stored. On Postgres that is COPY, followed by one
// NOTIFY per queue; unlike EnqueueMany it returns no job IDs. Other
// backends use their ordinary insert. Errors are those of EnqueueMany; on
// Postgres a failure stores none of the jobs.
func (c *Client) EnqueueManyFast(ctx context.Context, reqs []EnqueueRequest) (int, error) {
	ci, ok := c.backend.(CopyInserter)
	if !ok {
		return countStored(c.EnqueueMany(ctx, reqs))
	}
	params, err := c.prepare(reqs)
	if err != nil {
		return 0, err
	}
	if hasUnique(params) {
		// COPY cannot skip duplicates; unique jobs take the insert path.
		return countStored(c.EnqueueMany(ctx, reqs))
	}
	n, err := ci.CopyInsert(ctx, nil, params)
	if err != nil {
		return 0, err
	}
	c.wakeLocal(dueQueues(params)...)
	return n, nil
}

// EnqueueManyFastTx is EnqueueManyFast inside the caller's transaction: the
// jobs exist if and only if tx commits, and workers are woken at commit.
// It returns ErrTxUnsupported on a backend other than Postgres.
func (c *Client) EnqueueManyFastTx(ctx context.Context, tx CopyDBTX, reqs []EnqueueRequest) (int, error) {
	ci, ok := c.backend.(CopyInserter)
	if !ok {
		return 0, fmt.Errorf("%w (backend is %T)", ErrTxUnsupported, c.backend)
	}
	if isNilHandle(tx) {
		return 0, invalidJob("tx", "must not be nil")
	}
	params, err := c.prepare(reqs)
	if err != nil {
		return 0, err
	}
	if hasUnique(params) {
		return countStored(c.EnqueueManyTx(ctx, tx, reqs))
	}
	return ci.CopyInsert(ctx, tx, params)
}

// countStored counts the jobs an EnqueueMany stored, keeping its error.
func countStored(ids []int64, err error) (int, error) {
	var dup *DuplicateError
	if errors.As(err, &dup) {
		return len(ids) - len(dup.Indexes), err
	}
	return len(ids), err
}
