package pgqueue

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DBTX is what EnqueueTx and CompleteTx need from the caller's database
// handle. pgx.Tx, *pgx.Conn and *pgxpool.Pool all satisfy it; pass the
// transaction to make the job part of it.
type DBTX interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (c *Client) postgres() (*PostgresBackend, error) {
	pg, ok := c.backend.(*PostgresBackend)
	if !ok {
		return nil, fmt.Errorf("%w (backend is %T; use Enqueue instead)", ErrTxUnsupported, c.backend)
	}
	return pg, nil
}

// EnqueueTx stores a job inside the caller's transaction tx: the job exists
// if and only if tx commits, and workers are woken (NOTIFY) only at commit.
// It returns the job ID. Errors are those of Enqueue, plus
// ErrTxUnsupported when the client's backend is not Postgres: the job is
// then not stored anywhere.
func (c *Client) EnqueueTx(ctx context.Context, tx DBTX, args Args, opts *EnqueueOptions) (int64, error) {
	ids, err := c.EnqueueManyTx(ctx, tx, []EnqueueRequest{{Args: args, Options: opts}})
	if len(ids) == 1 {
		return ids[0], err
	}
	return 0, err
}

// EnqueueManyTx stores many jobs inside tx in one statement, with at most
// one NOTIFY per queue, and returns their IDs in order. Errors are those of
// EnqueueTx; on any error nothing is stored (though tx itself, as after any
// failed statement, must be rolled back).
func (c *Client) EnqueueManyTx(ctx context.Context, tx DBTX, reqs []EnqueueRequest) ([]int64, error) {
	pg, err := c.postgres()
	if err != nil {
		return nil, err
	}
	if tx == nil {
		return nil, invalidJob("tx", "must not be nil")
	}
	params, err := c.prepare(reqs)
	if err != nil {
		return nil, err
	}
	return c.insertThrough(ctx, params, func(ctx context.Context, jobs []InsertParams) ([]int64, error) {
		res, err := pg.insert(ctx, tx, jobs)
		if err != nil {
			return nil, err
		}
		return ResultIDs(res)
	})
}

// CompleteTx marks job completed inside the caller's transaction tx, so
// that the worker's own writes and the completion commit or roll back
// together: exactly-once database effects. It matches the job's lease
// token, so a worker whose lease was lost (the job was rescued and may be
// running elsewhere) gets ErrLeaseLost and should roll back. After a
// CompleteTx the worker returns nil; if tx then rolls back, the job runs
// again after its lease. It returns ErrTxUnsupported on a non-Postgres
// backend and ErrInvalidArgs for a job not handed out by this client.
func (c *Client) CompleteTx(ctx context.Context, tx DBTX, job Handle) error {
	pg, err := c.postgres()
	if err != nil {
		return err
	}
	if job == nil || job.jobState() == nil || job.jobState().client != c {
		return invalidJob("job", "not a running job of this client")
	}
	if tx == nil {
		return invalidJob("tx", "must not be nil")
	}
	st := job.jobState()
	tag, err := tx.Exec(ctx, pg.q.CompleteOne, st.ref.ID, st.ref.Token)
	if err != nil {
		return dbErr("complete job in transaction", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: job %d", ErrLeaseLost, st.ref.ID)
	}
	st.completedTx.Store(true)
	return nil
}
