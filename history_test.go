package pgqueue_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
	"github.com/pgqueue/pgqueue/memqueue"
)

// RecordOutput and SetProgress refuse, with a *ValidationError naming the
// field, what they cannot store, and a context that is not a job's; the
// earlier output is kept.
func TestRecordOutputAndSetProgressRefuseBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	requireInvalid(t, pgqueue.RecordOutput(ctx, 1), pgqueue.ErrInvalidArgs, "ctx", "RecordOutput outside a job")
	requireInvalid(t, pgqueue.SetProgress(ctx, 0.5, ""), pgqueue.ErrInvalidArgs, "ctx", "SetProgress outside a job")

	b := memqueue.New()
	type outcome struct {
		errs []error
	}
	got := make(chan outcome, 1)
	cfg := pgqueue.Config{Retention: time.Hour, PollInterval: 10 * time.Millisecond, CompleteFlushInterval: time.Millisecond}
	startClient(t, b, cfg, func(ctx context.Context, j *pgqueue.Job[pingArgs]) error {
		var o outcome
		_ = pgqueue.RecordOutput(ctx, "kept")
		o.errs = append(o.errs,
			pgqueue.RecordOutput(ctx, strings.Repeat("x", pgqueue.MaxOutputBytes)),
			pgqueue.RecordOutput(ctx, "nul \x00 inside"),
			pgqueue.RecordOutput(ctx, make(chan int)),
			pgqueue.SetProgress(ctx, 1.5, ""),
			pgqueue.SetProgress(ctx, -0.1, ""),
			pgqueue.SetProgress(ctx, math.NaN(), ""),
			pgqueue.SetProgress(ctx, 0.5, strings.Repeat("n", pgqueue.MaxProgressNoteBytes+1)),
			pgqueue.SetProgress(ctx, 0.5, "bad \xff utf-8"),
		)
		got <- o
		return nil
	})
	c, err := pgqueue.New(b, pgqueue.Config{})
	require.NoError(t, err)
	id, err := c.Enqueue(ctx, pingArgs{Seq: 1}, nil)
	require.NoError(t, err)
	var o outcome
	select {
	case o = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the job did not run within 10s")
	}
	fields := []string{"output", "output", "output", "fraction", "fraction", "fraction", "note", "note"}
	for i, err := range o.errs {
		requireInvalid(t, err, pgqueue.ErrInvalidArgs, fields[i], fmt.Sprintf("bad input #%d", i))
	}
	admin := pgqueue.NewAdmin(b)
	require.Eventually(t, func() bool {
		info, err := admin.FindJob(ctx, id)
		return err == nil && info.State == pgqueue.StateCompleted && string(info.Output) == `"kept"`
	}, 10*time.Second, 10*time.Millisecond, "a refused RecordOutput keeps the output recorded before it")
}

// Retention outside [0, MaxRetention] is refused at New, globally and per
// queue.
func TestNewRefusesRetentionOutOfRange(t *testing.T) {
	t.Parallel()
	b := memqueue.New()
	_, err := pgqueue.New(b, pgqueue.Config{Retention: -time.Second})
	requireInvalid(t, err, pgqueue.ErrInvalidConfig, "Retention", "a negative Config.Retention")
	_, err = pgqueue.New(b, pgqueue.Config{Retention: pgqueue.MaxRetention + time.Hour})
	requireInvalid(t, err, pgqueue.ErrInvalidConfig, "Retention", "a Config.Retention past MaxRetention")
	_, err = pgqueue.New(b, pgqueue.Config{Queues: map[string]pgqueue.QueueConfig{"q": {Retention: pgqueue.MaxRetention + time.Hour}}})
	requireInvalid(t, err, pgqueue.ErrInvalidConfig, "Queues[q].Retention", "a QueueConfig.Retention past MaxRetention")
	_, err = pgqueue.New(b, pgqueue.Config{Retention: pgqueue.MaxRetention, Queues: map[string]pgqueue.QueueConfig{"q": {Retention: -1}}})
	require.NoError(t, err, "MaxRetention itself, and a negative queue retention (never kept), are accepted")
}

// historyPartitions lists the history's hourly partitions.
func historyPartitions(t *testing.T, b *pgqueue.PostgresBackend) []string {
	t.Helper()
	rows, _ := b.Pool().Query(context.Background(), `
		SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = $1::regclass AND c.relname <> 'pgqueue_job_history_default' ORDER BY 1`,
		pgx.Identifier{b.Schema(), "pgqueue_job_history"}.Sanitize())
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return names
}

// MaintainHistory makes one partition per hour of the keep ahead, moves
// rows that landed in the default partition into their hour's partition,
// and drops whole the partitions whose hour has passed, leaving the
// others; rows of the default partition past their keep time are deleted.
func TestPostgresHistoryPartitionsAreMadeAndDroppedWhole(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := pgtest.Backend(t)
	hist := pgx.Identifier{b.Schema(), "pgqueue_job_history"}.Sanitize()
	insert := `INSERT INTO ` + hist + ` (id, queue, kind, priority, args, attempt, max_attempts, created_at, run_at,
		finished_at, keep_until, lease_token) VALUES ($1, 'q', 'k', 5, '{}', 1, 1, now(), now(), now(), $2, 1)`
	// Before any partition exists a kept row lands in the default one.
	_, err := b.Pool().Exec(ctx, insert, 1, time.Now().Add(90*time.Minute))
	require.NoError(t, err)
	_, err = b.Pool().Exec(ctx, insert, 2, time.Now().Add(-3*time.Hour))
	require.NoError(t, err, "a row already past its keep time (only a hand-written insert makes one)")

	r, err := b.MaintainHistory(ctx, 2*time.Hour)
	require.NoError(t, err)
	// Hours now..now+3h (keep + one hour of margin): 4, or 5 when the
	// call straddles an hour.
	require.GreaterOrEqual(t, r.Made, 4, "one partition per hour of the keep plus margin")
	parts := historyPartitions(t, b)
	require.Len(t, parts, r.Made)
	var inDefault int
	require.NoError(t, b.Pool().QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{b.Schema(), "pgqueue_job_history_default"}.Sanitize()).Scan(&inDefault))
	require.Zero(t, inDefault, "the default partition's row 1 moved to its hour's partition, and row 2 (past its keep) was deleted")
	var kept int64
	require.NoError(t, b.Pool().QueryRow(ctx, `SELECT id FROM `+hist).Scan(&kept))
	require.EqualValues(t, 1, kept)

	again, err := b.MaintainHistory(ctx, 2*time.Hour)
	require.NoError(t, err)
	require.Zero(t, again.Made, "a second call within the hour makes nothing")

	// A partition of an hour that has passed, holding a row: dropped whole.
	past := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	name := "pgqueue_job_history_" + past.Format("2006010215")
	_, err = b.Pool().Exec(ctx, `CREATE TABLE `+pgx.Identifier{b.Schema(), name}.Sanitize()+` PARTITION OF `+hist+
		` FOR VALUES FROM ('`+past.Format(time.RFC3339)+`') TO ('`+past.Add(time.Hour).Format(time.RFC3339)+`')`)
	require.NoError(t, err)
	_, err = b.Pool().Exec(ctx, insert, 3, past.Add(30*time.Minute))
	require.NoError(t, err)
	r, err = b.MaintainHistory(ctx, 0)
	require.NoError(t, err)
	require.Equal(t, 1, r.Dropped, "the past hour's partition is dropped")
	require.NotContains(t, historyPartitions(t, b), name)
	require.Len(t, historyPartitions(t, b), len(parts), "the partitions of hours to come stay")
}

// CompleteTx of a job with output and a retention keeps it in the history
// in the worker's own transaction: rolled back, the job is still held;
// committed, it is completed with its output.
func TestCompleteTxKeepsOutputInTheHistory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := pgtest.Backend(t)
	admin := pgqueue.NewAdmin(b)
	attempts := make(chan int, 2)
	var c *pgqueue.Client
	c = startClient(t, b, pgqueue.Config{Retention: time.Hour, PollInterval: 20 * time.Millisecond}, func(ctx context.Context, j *pgqueue.Job[pingArgs]) error {
		attempts <- j.Attempt
		if err := pgqueue.RecordOutput(ctx, map[string]int{"attempt": j.Attempt}); err != nil {
			return err
		}
		tx, err := b.Pool().Begin(ctx)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback(ctx) }()
		if err := c.CompleteTx(ctx, tx, j); err != nil {
			t.Logf("CompleteTx: %v", err)
			return err
		}
		return tx.Commit(ctx)
	})
	id, err := c.Enqueue(ctx, pingArgs{Seq: 7}, nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := admin.FindJob(ctx, id)
		return err == nil && info.State == pgqueue.StateCompleted
	}, 10*time.Second, 10*time.Millisecond, "the job completes through CompleteTx")
	info, err := admin.FindJob(ctx, id)
	require.NoError(t, err)
	require.JSONEq(t, `{"attempt":1}`, string(info.Output))
	require.Len(t, attempts, 1, "the job ran once")
}
