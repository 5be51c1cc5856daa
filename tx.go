package pgqueue

// The transactional API: EnqueueTx, EnqueueManyTx and CompleteTx on the
// caller's own pgx handle, over a backend's TxInserter and TxCompleter.

import (
	"context"
	"fmt"
	"reflect"

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

// txInserter returns the client's backend as a TxInserter, or
// ErrTxUnsupported.
func (c *Client) txInserter() (TxInserter, error) {
	b, ok := c.backend.(TxInserter)
	if !ok {
		return nil, fmt.Errorf("%w (backend is %T; use Enqueue instead)", ErrTxUnsupported, c.backend)
	}
	return b, nil
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
	ti, err := c.txInserter()
	if err != nil {
		return nil, err
	}
	if isNilHandle(tx) {
		return nil, invalidJob("tx", "must not be nil")
	}
	params, err := c.prepare(reqs)
	if err != nil {
		return nil, err
	}
	if hasSequence(params) {
		si, ok := c.backend.(TxSequenceInserter)
		if !ok {
			return nil, fmt.Errorf("%w: sequences in a transaction (backend is %T)", ErrTxUnsupported, c.backend)
		}
		return c.insertThrough(ctx, params, func(ctx context.Context, jobs []InsertParams) ([]int64, error) {
			return si.InsertSequencedTx(ctx, tx, jobs)
		})
	}
	return c.insertThrough(ctx, params, func(ctx context.Context, jobs []InsertParams) ([]int64, error) {
		res, err := ti.InsertTx(ctx, tx, jobs)
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
	tc, ok := c.backend.(TxCompleter)
	if !ok {
		return fmt.Errorf("%w (backend is %T)", ErrTxUnsupported, c.backend)
	}
	if job == nil || job.jobState() == nil || job.jobState().client != c {
		return invalidJob("job", "not a running job of this client")
	}
	if isNilHandle(tx) {
		return invalidJob("tx", "must not be nil")
	}
	st := job.jobState()
	done := Completion{Ref: st.ref, Output: st.recordedOutput(), Keep: c.cfg.retentionFor(st.row.Queue), Workflow: st.row.WorkflowID != 0}
	if trr, ok := c.backend.(TxRunRecorder); ok && (done.Output != nil || done.Keep > 0 || done.Workflow) {
		if err := trr.CompleteRecordedTx(ctx, tx, done); err != nil {
			return err
		}
	} else if err := tc.CompleteTx(ctx, tx, st.ref); err != nil {
		return err
	}
	st.completedTx.Store(true)
	return nil
}

// isNilHandle reports a nil database handle, including a typed nil (a nil
// *pgxpool.Pool or *pgx.Conn passed as DBTX), which would otherwise panic
// on first use.
func isNilHandle(h any) bool {
	if h == nil {
		return true
	}
	v := reflect.ValueOf(h)
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan:
		return v.IsNil()
	}
	return false
}
