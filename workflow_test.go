package pgqueue_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
	"github.com/pgqueue/pgqueue/memqueue"
)

// EnqueueWorkflowTx stores the workflow in the caller's transaction: a
// rollback leaves no workflow, task, dependency or job; a commit stores
// them all, and its first task runs.
func TestEnqueueWorkflowTxIsAllOrNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := pgtest.Backend(t)
	admin := pgqueue.NewAdmin(b)
	c, err := pgqueue.New(b, pgqueue.Config{})
	require.NoError(t, err)
	build := func() *pgqueue.Workflow {
		wf := pgqueue.NewWorkflow("tx")
		first := wf.Add(pingArgs{Seq: 1}, nil)
		wf.Add(pingArgs{Seq: 2}, nil, pgqueue.After(first))
		return wf
	}

	tx, err := b.Pool().Begin(ctx)
	require.NoError(t, err)
	_, err = c.EnqueueWorkflowTx(ctx, tx, build())
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(ctx))
	list, err := admin.Workflows(ctx, 0, 10)
	require.NoError(t, err)
	require.Empty(t, list, "a rolled-back EnqueueWorkflowTx leaves no workflow")
	for _, table := range []string{"pgqueue_jobs", "pgqueue_workflow_tasks", "pgqueue_workflow_edges"} {
		var n int
		require.NoError(t, b.Pool().QueryRow(ctx, `SELECT count(*) FROM "`+b.Schema()+`".`+table).Scan(&n))
		require.Zero(t, n, "a rolled-back EnqueueWorkflowTx leaves nothing in %s", table)
	}

	tx, err = b.Pool().Begin(ctx)
	require.NoError(t, err)
	ids, err := c.EnqueueWorkflowTx(ctx, tx, build())
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	info, tasks, err := admin.Workflow(ctx, ids.ID)
	require.NoError(t, err)
	require.Equal(t, 2, info.Tasks)
	require.Equal(t, pgqueue.StateAvailable, tasks[0].State)
	require.Equal(t, pgqueue.StateWaiting, tasks[1].State)

	_, err = c.EnqueueWorkflowTx(ctx, nil, build())
	require.ErrorIs(t, err, pgqueue.ErrInvalidArgs, "a nil transaction")
	mc, err := pgqueue.New(memqueue.New(), pgqueue.Config{})
	require.NoError(t, err)
	_, err = mc.EnqueueWorkflowTx(ctx, tx, build())
	require.ErrorIs(t, err, pgqueue.ErrTxUnsupported, "memqueue has no transactions")
	_, err = pgqueue.DependencyOutputs(ctx)
	require.ErrorIs(t, err, pgqueue.ErrInvalidArgs, "DependencyOutputs outside a job")
	_, err = admin.Workflows(ctx, 0, pgqueue.MaxJobListLimit+1)
	require.ErrorIs(t, err, pgqueue.ErrInvalidArgs, "a list limit past MaxJobListLimit")
	_, _, err = admin.Workflow(ctx, ids.ID+1000)
	require.ErrorIs(t, err, pgqueue.ErrJobNotFound, "an unknown workflow")
}

// A task completed with CompleteTx releases its dependents in the
// worker's own transaction.
func TestCompleteTxReleasesWorkflowDependents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := pgtest.Backend(t)
	ran := make(chan int, 4)
	var c *pgqueue.Client
	c = startClient(t, b, pgqueue.Config{PollInterval: 20 * time.Millisecond}, func(ctx context.Context, j *pgqueue.Job[pingArgs]) error {
		ran <- j.Args.Seq
		tx, err := b.Pool().Begin(ctx)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback(ctx) }()
		if err := c.CompleteTx(ctx, tx, j); err != nil {
			return err
		}
		return tx.Commit(ctx)
	})
	wf := pgqueue.NewWorkflow("tx-complete")
	first := wf.Add(pingArgs{Seq: 1}, nil)
	wf.Add(pingArgs{Seq: 2}, nil, pgqueue.After(first))
	_, err := c.EnqueueWorkflow(ctx, wf)
	require.NoError(t, err)
	for want := 1; want <= 2; want++ {
		select {
		case got := <-ran:
			require.Equal(t, want, got, "tasks run in dependency order")
		case <-time.After(10 * time.Second):
			t.Fatalf("task %d did not run within 10s: CompleteTx did not release it", want)
		}
	}
}

// The README's SQL for the history and for workflows runs as written on a
// migrated schema (on the search_path, as the README assumes).
func TestREADMEHistoryAndWorkflowSQLRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := pgtest.Backend(t)
	for _, name := range []string{"history-sql", "workflow-sql"} {
		tx, err := b.Pool().Begin(ctx)
		require.NoError(t, err)
		_, err = tx.Exec(ctx, "SET LOCAL search_path TO "+pgx.Identifier{b.Schema()}.Sanitize())
		require.NoError(t, err)
		for _, stmt := range strings.Split(readmeBlock(t, name), ";\n") {
			if strings.TrimSpace(stmt) == "" {
				continue
			}
			rows, err := tx.Query(ctx, stmt)
			require.NoError(t, err, "README %s: %s", name, stmt)
			rows.Close()
			require.NoError(t, rows.Err(), "README %s: %s", name, stmt)
		}
		require.NoError(t, tx.Rollback(ctx))
	}
}
