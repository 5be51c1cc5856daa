package pgqueue_test

// The cost of enqueueing from SQL against EnqueueTx and EnqueueManyTx,
// measured side by side in one run so the ratios mean something on a
// shared machine:
//
//	go test -run '^$' -bench BenchmarkSQLEnqueue -benchtime 4000x .

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
)

// benchConns is how many connections (and goroutines) enqueue at once.
const benchConns = 8

// inParallel runs op n times from benchConns goroutines and returns the
// time per op.
func inParallel(b *testing.B, n int, op func(ctx context.Context) error) time.Duration {
	b.Helper()
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, benchConns)
	start := time.Now()
	for range benchConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if err := op(ctx); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return elapsed / time.Duration(n)
}

func BenchmarkSQLEnqueue(b *testing.B) {
	e := newSQLEnv(b)
	ctx := context.Background()
	truncate := func() {
		_, err := e.admin.Exec(ctx, "TRUNCATE "+pgx.Identifier{e.schema, "pgqueue_jobs"}.Sanitize())
		require.NoError(b, err)
	}
	client := func(debounce time.Duration) *pgqueue.Client {
		be, err := pgqueue.NewPostgres(e.admin, &pgqueue.PostgresOptions{Schema: e.schema, NotifyDebounce: debounce})
		require.NoError(b, err)
		c, err := pgqueue.New(be, pgqueue.Config{})
		require.NoError(b, err)
		return c
	}
	goDefault, goEveryNotify := client(0), client(-1)
	inTx := func(pool *pgxpool.Pool, f func(tx pgx.Tx) error) func(ctx context.Context) error {
		return func(ctx context.Context) error { return pgx.BeginFunc(ctx, pool, f) }
	}

	b.Run("one_job_per_tx_8_conns", func(b *testing.B) {
		goTx := func(c *pgqueue.Client) func(ctx context.Context) error {
			return inTx(e.admin, func(tx pgx.Tx) error {
				_, err := c.EnqueueTx(ctx, tx, pingArgs{Seq: 1}, nil)
				return err
			})
		}
		truncate()
		goD := inParallel(b, b.N, goTx(goDefault))
		truncate()
		goN := inParallel(b, b.N, goTx(goEveryNotify))
		truncate()
		sqlOne := inParallel(b, b.N, inTx(e.producer, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `SELECT pgqueue_enqueue('ping', '{"seq": 1}')`)
			return err
		}))
		truncate()
		b.ReportMetric(float64(goD.Microseconds()), "EnqueueTx-µs/job")
		b.ReportMetric(float64(goN.Microseconds()), "EnqueueTx-nodebounce-µs/job")
		b.ReportMetric(float64(sqlOne.Microseconds()), "pgqueue_enqueue-µs/job")
		b.ReportMetric(float64(sqlOne)/float64(goD), "sql/EnqueueTx")
		b.ReportMetric(float64(sqlOne)/float64(goN), "sql/EnqueueTx-nodebounce")
	})

	b.Run("batch_of_1000_per_tx", func(b *testing.B) {
		const size = 1000
		n := max(1, b.N/size) // b.N counts jobs
		goBatch := inTx(e.admin, func(tx pgx.Tx) error {
			reqs := make([]pgqueue.EnqueueRequest, size)
			for i := range reqs {
				reqs[i] = pgqueue.EnqueueRequest{Args: pingArgs{Seq: i}}
			}
			_, err := goEveryNotify.EnqueueManyTx(ctx, tx, reqs)
			return err
		})
		sqlBatch := inTx(e.producer, func(tx pgx.Tx) error {
			jobs := make([]map[string]any, size)
			for i := range jobs {
				jobs[i] = map[string]any{"kind": "ping", "args": pingArgs{Seq: i}}
			}
			raw, err := json.Marshal(jobs)
			if err != nil {
				return err
			}
			_, err = tx.Exec(ctx, "SELECT count(*) FROM pgqueue_enqueue_many($1::jsonb)", string(raw))
			return err
		})
		// One producer at a time: a batch is one statement, and the
		// comparison is of the statements, not of the lock on the table.
		run := func(op func(ctx context.Context) error) time.Duration {
			truncate()
			start := time.Now()
			for range n {
				require.NoError(b, op(ctx))
			}
			return time.Since(start) / time.Duration(n*size)
		}
		goD := run(goBatch)
		sqlD := run(sqlBatch)
		truncate()
		b.ReportMetric(float64(goD.Nanoseconds())/1000, "EnqueueManyTx-µs/job")
		b.ReportMetric(float64(sqlD.Nanoseconds())/1000, "pgqueue_enqueue_many-µs/job")
		b.ReportMetric(float64(sqlD)/float64(goD), "sql/EnqueueManyTx")
	})
}
