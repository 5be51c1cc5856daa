package pgqueue

// The Postgres backend's SequenceInserter and TxSequenceInserter
// (migration 12): each sequenced job becomes the next task of its key's
// workflow.

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

var (
	_ SequenceInserter   = (*PostgresBackend)(nil)
	_ TxSequenceInserter = (*PostgresBackend)(nil)
)

// InsertSequenced implements SequenceInserter, in a transaction of its
// own.
func (b *PostgresBackend) InsertSequenced(ctx context.Context, jobs []InsertParams) ([]int64, error) {
	return b.InsertSequencedTx(ctx, b.pool, jobs)
}

// InsertSequencedTx implements TxSequenceInserter. The statements of one
// job run in a transaction (a savepoint inside the caller's): the lock on
// the key's row is what orders the jobs of a key, so it must hold until
// the job is stored.
func (b *PostgresBackend) InsertSequencedTx(ctx context.Context, db DBTX, jobs []InsertParams) ([]int64, error) {
	beginner, ok := db.(interface {
		Begin(ctx context.Context) (pgx.Tx, error)
	})
	if !ok {
		return nil, invalidJob("tx", "%T cannot begin a transaction, which a sequenced job needs", db)
	}
	ids := make([]int64, len(jobs))
	err := pgx.BeginFunc(ctx, beginner, func(tx pgx.Tx) error {
		for i, j := range jobs {
			var err error
			if j.Sequence == "" {
				var res []InsertResult
				if res, err = b.insert(ctx, tx, []InsertParams{j}); err == nil {
					ids[i] = res[0].ID
				}
			} else {
				ids[i], err = b.insertSequenced(ctx, tx, j)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// insertSequenced stores one sequenced job on tx: lock the key, grow its
// workflow, store the job as a task (waiting when the last job of the key
// is unfinished, with an edge from it), and make it the key's last job.
func (b *PostgresBackend) insertSequenced(ctx context.Context, tx pgx.Tx, j InsertParams) (int64, error) {
	var (
		wf, last             pgtype.Int8
		lastGoesOn, unfinish bool
		wfID                 int64
		n                    int
	)
	if err := tx.QueryRow(ctx, b.q.SequenceLock, j.Sequence).Scan(&wf, &last, &lastGoesOn); err != nil {
		return 0, dbErr("lock sequence", err)
	}
	if last.Valid {
		err := tx.QueryRow(ctx, b.q.SequencePrev, last.Int64).Scan(&unfinish)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return 0, dbErr("read sequence's last job", err)
		}
	}
	if err := tx.QueryRow(ctx, b.q.SequenceWorkflow, wf, SequenceWorkflowName(j.Sequence)).Scan(&wfID, &n); err != nil {
		return 0, dbErr("grow sequence workflow", err)
	}
	deps := int32(0)
	if unfinish {
		deps = 1
	}
	var runAt pgtype.Timestamptz
	if !j.RunAt.IsZero() {
		runAt = pgtype.Timestamptz{Time: j.RunAt, Valid: true}
	}
	rows, _ := tx.Query(ctx, b.q.WorkflowInsertTasks, []string{j.Queue}, []string{j.Kind}, []int16{int16(j.Priority)},
		[]string{string(j.Args)}, []int32{int32(j.MaxAttempts)}, []pgtype.Timestamptz{runAt}, b.channel,
		[]pgtype.Text{metadataText(j.Metadata)}, wfID, []string{"#" + strconv.Itoa(n)}, []int32{deps}, []bool{false})
	got, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, dbErr("insert sequenced job", err)
	}
	if len(got) != 1 {
		return 0, fmt.Errorf("%w: insert sequenced job: stored %d rows", ErrDatabase, len(got))
	}
	id := got[0]
	if unfinish {
		if _, err := tx.Exec(ctx, b.q.WorkflowInsertEdges, []int64{last.Int64}, []int64{id}, []bool{lastGoesOn}); err != nil {
			return 0, dbErr("chain sequenced job", err)
		}
	}
	if _, err := tx.Exec(ctx, b.q.SequenceAdvance, j.Sequence, wfID, id, j.SequenceContinue); err != nil {
		return 0, dbErr("advance sequence", err)
	}
	return id, nil
}
