package pgqueue

// The Postgres backend's WorkflowStore and TxWorkflowInserter (migration
// 11): storing workflows, the failure sweep, and reading them.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// maxSweepRounds bounds the rounds of one ResolveFailedDependencies call:
// each round applies the outcome of up to 1000 failed tasks, and a
// cancelled dependent is applied to its own dependents in the next round.
const maxSweepRounds = 50

// anyWorkflow reports whether a batch of completions holds a workflow
// task.
func anyWorkflow(done []Completion) bool {
	for _, c := range done {
		if c.Workflow {
			return true
		}
	}
	return false
}

// InsertWorkflow implements WorkflowStore, in a transaction of its own.
func (b *PostgresBackend) InsertWorkflow(ctx context.Context, p WorkflowParams) (WorkflowIDs, error) {
	var ids WorkflowIDs
	err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		var err error
		ids, err = b.InsertWorkflowTx(ctx, tx, p)
		return err
	})
	return ids, err
}

// InsertWorkflowTx implements TxWorkflowInserter: three statements on tx
// (the workflow, its tasks, its dependencies).
func (b *PostgresBackend) InsertWorkflowTx(ctx context.Context, tx DBTX, p WorkflowParams) (WorkflowIDs, error) {
	var ids WorkflowIDs
	if err := tx.QueryRow(ctx, b.q.WorkflowCreate, p.Name, len(p.Tasks)).Scan(&ids.ID); err != nil {
		return ids, dbErr("insert workflow", err)
	}
	n := len(p.Tasks)
	queues, kinds, args, names := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	prios, maxAtt, deps := make([]int16, n), make([]int32, n), make([]int32, n)
	needsFailure := make([]bool, n)
	runAt, metas := make([]pgtype.Timestamptz, n), make([]pgtype.Text, n)
	var from, to []int64
	var anyway []bool
	for i, t := range p.Tasks {
		j := t.Job
		queues[i], kinds[i], args[i], names[i] = j.Queue, j.Kind, string(j.Args), t.Name
		prios[i], maxAtt[i], deps[i] = int16(j.Priority), int32(j.MaxAttempts), int32(len(t.Deps))
		if !j.RunAt.IsZero() {
			runAt[i] = pgtype.Timestamptz{Time: j.RunAt, Valid: true}
		}
		metas[i] = metadataText(j.Metadata)
		needsFailure[i] = t.NeedsFailure
	}
	rows, _ := tx.Query(ctx, b.q.WorkflowInsertTasks, queues, kinds, prios, args, maxAtt, runAt, b.channel, metas, ids.ID, names, deps, needsFailure)
	jobIDs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return ids, dbErr("insert workflow tasks", err)
	}
	if len(jobIDs) != n {
		return ids, fmt.Errorf("%w: insert workflow tasks: stored %d of %d", ErrDatabase, len(jobIDs), n)
	}
	ids.Jobs = jobIDs
	for i, t := range p.Tasks {
		for _, d := range t.Deps {
			from, to, anyway = append(from, jobIDs[d.Task]), append(to, jobIDs[i]), append(anyway, d.RunOnFailure)
		}
	}
	if len(from) > 0 {
		if _, err := tx.Exec(ctx, b.q.WorkflowInsertEdges, from, to, anyway); err != nil {
			return ids, dbErr("insert workflow dependencies", err)
		}
	}
	return ids, nil
}

// DependencyOutputs implements WorkflowStore.
func (b *PostgresBackend) DependencyOutputs(ctx context.Context, id int64) (map[string]json.RawMessage, error) {
	rows, _ := b.pool.Query(ctx, b.q.WorkflowOutputs, id)
	out := map[string]json.RawMessage{}
	var (
		name   string
		output []byte
	)
	_, err := pgx.ForEachRow(rows, []any{&name, &output}, func() error {
		out[name] = json.RawMessage(output)
		return nil
	})
	if err != nil {
		return nil, dbErr("read dependency outputs", err)
	}
	return out, nil
}

// ResolveFailedDependencies implements WorkflowStore: rounds of
// sql/workflow_sweep.sql, each in a transaction holding the schema's
// sweep lock (another client sweeping makes this call a no-op). A probe
// comes first, so that a sweep with nothing to do (every client runs one
// each PollInterval) is one read, not a transaction of four statements.
func (b *PostgresBackend) ResolveFailedDependencies(ctx context.Context) (int, error) {
	var pending bool
	if err := b.pool.QueryRow(ctx, b.q.WorkflowFailedAny).Scan(&pending); err != nil {
		return 0, dbErr("look for failed workflow tasks", err)
	}
	if !pending {
		return 0, nil
	}
	changed := 0
	for range maxSweepRounds {
		var n, took int
		busy := false
		err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
			var locked bool
			if err := tx.QueryRow(ctx, b.q.WorkflowLock, b.workflowLockKey()).Scan(&locked); err != nil {
				return err
			}
			if !locked {
				busy = true
				return nil
			}
			if _, err := tx.Exec(ctx, b.q.WorkflowLockFailed); err != nil {
				return err
			}
			var woke int
			return tx.QueryRow(ctx, b.q.WorkflowSweep, b.channel).Scan(&n, &took, &woke)
		})
		if err != nil {
			return changed, dbErr("resolve failed workflow dependencies", err)
		}
		changed += n
		if busy || took == 0 {
			return changed, nil
		}
	}
	return changed, nil
}

// workflowLockKey is the advisory lock key of the schema's failure sweep.
func (b *PostgresBackend) workflowLockKey() int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("pgqueue workflow sweep\x00" + b.schema))
	return int64(h.Sum64())
}

// Workflow implements WorkflowStore.
func (b *PostgresBackend) Workflow(ctx context.Context, id int64) (*WorkflowInfo, []WorkflowTaskInfo, error) {
	var (
		list  []WorkflowInfo
		tasks []WorkflowTaskInfo
	)
	err := b.bounded(ctx, "read workflow", func(tx pgx.Tx) error {
		var err error
		if list, err = b.listWorkflows(ctx, tx, 0, 1, pgtype.Int8{Int64: id, Valid: true}); err != nil || len(list) == 0 {
			return err
		}
		rows, _ := tx.Query(ctx, b.q.WorkflowTasks, id)
		tasks, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (WorkflowTaskInfo, error) {
			var t WorkflowTaskInfo
			var state string
			err := row.Scan(&t.Name, &t.JobID, &state, &t.DependsOn)
			t.State = State(state)
			return t, err
		})
		return err
	})
	if err != nil {
		return nil, nil, dbErr("read workflow", err)
	}
	if len(list) == 0 {
		return nil, nil, fmt.Errorf("%w: workflow %d", ErrJobNotFound, id)
	}
	return &list[0], tasks, nil
}

// ListWorkflows implements WorkflowStore.
func (b *PostgresBackend) ListWorkflows(ctx context.Context, before int64, limit int) ([]WorkflowInfo, error) {
	var out []WorkflowInfo
	err := b.bounded(ctx, "list workflows", func(tx pgx.Tx) error {
		var err error
		out, err = b.listWorkflows(ctx, tx, before, limit, pgtype.Int8{})
		return err
	})
	return out, dbErr("list workflows", err)
}

func (b *PostgresBackend) listWorkflows(ctx context.Context, tx pgx.Tx, before int64, limit int, id pgtype.Int8) ([]WorkflowInfo, error) {
	rows, _ := tx.Query(ctx, b.q.WorkflowList, before, limit, id)
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (WorkflowInfo, error) {
		var w WorkflowInfo
		err := row.Scan(&w.ID, &w.Name, &w.Tasks, &w.CreatedAt, &w.Waiting, &w.Active, &w.Completed, &w.Dead, &w.Cancelled)
		return w, err
	})
}

// CancelWorkflow implements WorkflowStore: Bulk cancel's statement on
// the workflow's tasks still in the queue.
func (b *PostgresBackend) CancelWorkflow(ctx context.Context, id int64) (int, error) {
	var ids []int64
	err := b.pool.QueryRow(ctx, b.q.WorkflowJobIDs, id).Scan(&ids)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("%w: workflow %d", ErrJobNotFound, id)
	}
	if err != nil {
		return 0, dbErr("cancel workflow", err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	return b.cancelJobs(ctx, ids)
}

// RetryWorkflow implements WorkflowStore (sql/workflow_retry.sql).
func (b *PostgresBackend) RetryWorkflow(ctx context.Context, id int64) (int, error) {
	var n, woke int
	err := b.pool.QueryRow(ctx, b.q.WorkflowRetry, id, b.channel).Scan(&n, &woke)
	return n, dbErr("retry workflow", err)
}

// PruneWorkflows implements WorkflowStore (sql/workflow_prune.sql), in
// batches of 1000 workflows.
func (b *PostgresBackend) PruneWorkflows(ctx context.Context, olderThan time.Duration) (int, error) {
	total := 0
	for {
		var n int
		if err := b.pool.QueryRow(ctx, b.q.WorkflowPrune, micros(olderThan)).Scan(&n); err != nil {
			return total, dbErr("prune workflows", err)
		}
		total += n
		if n < 1000 {
			return total, nil
		}
	}
}

var (
	_ WorkflowStore      = (*PostgresBackend)(nil)
	_ TxWorkflowInserter = (*PostgresBackend)(nil)
)
