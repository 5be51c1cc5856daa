package bench

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgqueue/pgqueue"
)

// Job is the no-op job the workloads enqueue.
type Job struct {
	// Seq is the job's sequence number, by which the workloads match a
	// job's start to its enqueue.
	Seq int64 `json:"seq"`
}

// Kind implements pgqueue.Args.
func (Job) Kind() string { return "bench.noop" }

// Pgqueue describes pgqueue on the schema opts.Schema (already migrated,
// default "public") with opts as its backend options and cfg as its client
// configuration; the zero values are pgqueue's defaults.
func Pgqueue(name string, pool *pgxpool.Pool, opts pgqueue.PostgresOptions, cfg pgqueue.Config) (System, error) {
	backend, err := pgqueue.NewPostgres(pool, &opts)
	if err != nil {
		return System{}, err
	}
	enq, err := pgqueue.New(backend, pgqueue.Config{})
	if err != nil {
		return System{}, err
	}
	requests := func(seqs []int64) []pgqueue.EnqueueRequest {
		reqs := make([]pgqueue.EnqueueRequest, len(seqs))
		for i, s := range seqs {
			reqs[i] = pgqueue.EnqueueRequest{Args: Job{Seq: s}}
		}
		return reqs
	}
	schema := backend.Schema()
	return System{
		Name:  name,
		Begin: pool.Begin,
		InsertTx: func(ctx context.Context, tx pgx.Tx, seq int64) error {
			_, err := enq.EnqueueTx(ctx, tx, Job{Seq: seq}, nil)
			return err
		},
		InsertMany: func(ctx context.Context, seqs []int64) error {
			_, err := enq.EnqueueMany(ctx, requests(seqs))
			return err
		},
		InsertCopy: func(ctx context.Context, seqs []int64) error {
			_, err := enq.EnqueueManyFast(ctx, requests(seqs))
			return err
		},
		Start: func(ctx context.Context, worked func(int64)) (func(context.Context) error, error) {
			c, err := pgqueue.New(backend, cfg)
			if err != nil {
				return nil, err
			}
			if err := pgqueue.Register(c, pgqueue.WorkFunc[Job](func(ctx context.Context, j *pgqueue.Job[Job]) error {
				worked(j.Args.Seq)
				return nil
			})); err != nil {
				return nil, err
			}
			if err := c.Start(ctx); err != nil {
				return nil, err
			}
			return BoundedStop(c.Stop), nil
		},
		Reset: TruncateReset(pool, schema, "pgqueue_jobs", "pgqueue_dead_jobs"),
		TableStats: func(ctx context.Context) (TableStats, error) {
			return tableStats(ctx, pool, pgx.Identifier{schema, "pgqueue_jobs"}.Sanitize())
		},
		HoldHorizon: func(ctx context.Context) (func(), error) { return holdHorizon(ctx, pool) },
	}, nil
}

// tableStats reads a table's dead and live rows from the statistics
// collector and its size on disk (with indexes).
func tableStats(ctx context.Context, pool *pgxpool.Pool, table string) (TableStats, error) {
	var st TableStats
	err := pool.QueryRow(ctx, `SELECT coalesce(n_dead_tup, 0), coalesce(n_live_tup, 0), pg_total_relation_size(to_regclass($1))
		FROM pg_stat_user_tables WHERE relid = to_regclass($1)`, table).Scan(&st.Dead, &st.Live, &st.Bytes)
	return st, err
}

// holdHorizon opens a repeatable-read transaction with an XID, which keeps
// vacuum from removing any row version that died after it began, as a long
// report or a forgotten idle-in-transaction session does.
func holdHorizon(ctx context.Context, pool *pgxpool.Pool) (func(), error) {
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, "SELECT txid_current()"); err != nil {
		_ = tx.Rollback(ctx)
		return nil, err
	}
	return func() { _ = tx.Rollback(context.Background()) }, nil
}
