package pgqueue_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
	"github.com/pgqueue/pgqueue/memqueue"
	"github.com/pgqueue/pgqueue/queuetest"
)

// Benchmarks run each backend in the same process, so their figures can be
// read as ratios: go test -run '^$' -bench . -benchtime 2000x .

// BenchmarkEnqueue, BenchmarkEnqueueMany100 and BenchmarkWork are the
// shared queuetest benchmarks, memqueue beside Postgres.
func BenchmarkEnqueue(b *testing.B) { queuetest.BenchmarkEnqueue(b, benchList()) }

func BenchmarkEnqueueMany100(b *testing.B) { queuetest.BenchmarkEnqueueMany(b, benchList(), 100) }

func BenchmarkWork(b *testing.B) { queuetest.BenchmarkWork(b, benchList(), 50) }

func benchList() []queuetest.BenchBackend {
	return []queuetest.BenchBackend{
		{Name: "memqueue", New: func(b *testing.B) pgqueue.Backend { return memqueue.New() }},
		{Name: "postgres", New: func(b *testing.B) pgqueue.Backend { return pgtest.Backend(b) }},
	}
}

// fill inserts n due jobs of kind "ping" with one statement per 1,000.
func fill(b *testing.B, backend pgqueue.Backend, n int) {
	b.Helper()
	batch := make([]pgqueue.InsertParams, 0, 1000)
	for i := 0; i < n; i++ {
		batch = append(batch, pgqueue.InsertParams{Kind: "ping", Queue: "default", Priority: 5, Args: []byte(`{"seq":1}`), MaxAttempts: 25})
		if len(batch) == cap(batch) || i == n-1 {
			_, err := backend.Insert(context.Background(), batch)
			require.NoError(b, err)
			batch = batch[:0]
		}
	}
}

// BenchmarkClaim measures Backend.Claim taking 100 jobs at a time; ns/op
// is per job.
func BenchmarkClaim(b *testing.B) {
	for _, bb := range benchList() {
		b.Run(bb.Name, func(b *testing.B) {
			backend := bb.New(b)
			fill(b, backend, b.N+100)
			ctx := context.Background()
			b.ResetTimer()
			for claimed := 0; claimed < b.N; {
				rows, err := backend.Claim(ctx, pgqueue.ClaimParams{Queue: "default", Kinds: []string{"ping"}, Limit: 100, Lease: time.Minute})
				if err != nil || len(rows) == 0 {
					b.Fatalf("claim: %v (%d rows)", err, len(rows))
				}
				claimed += len(rows)
			}
		})
	}
}

// BenchmarkComplete measures Backend.Complete of 100 refs per call; ns/op
// is per job.
func BenchmarkComplete(b *testing.B) {
	for _, bb := range benchList() {
		b.Run(bb.Name, func(b *testing.B) {
			backend := bb.New(b)
			fill(b, backend, b.N+100)
			ctx := context.Background()
			var refs []pgqueue.JobRef
			for len(refs) < b.N {
				rows, err := backend.Claim(ctx, pgqueue.ClaimParams{Queue: "default", Kinds: []string{"ping"}, Limit: 1000, Lease: time.Hour})
				require.NoError(b, err)
				for _, r := range rows {
					refs = append(refs, r.Ref())
				}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i += 100 {
				if _, err := backend.Complete(ctx, refs[i:min(i+100, b.N)]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEnqueueTxParallel measures one job per transaction (Begin,
// EnqueueTx, Commit) from 4×GOMAXPROCS goroutines, with the default NOTIFY
// debounce beside a NOTIFY in every transaction, so a regression in either
// the debounce or the insert shows up as a changed ratio.
func BenchmarkEnqueueTxParallel(b *testing.B) {
	for _, v := range []struct {
		name     string
		debounce time.Duration
	}{{"debounced", 0}, {"notify-every-tx", -1}} {
		b.Run(v.name, func(b *testing.B) {
			pool, schema := pgtest.Migrated(b)
			backend, err := pgqueue.NewPostgres(pool, &pgqueue.PostgresOptions{Schema: schema, NotifyDebounce: v.debounce})
			require.NoError(b, err)
			c, err := pgqueue.New(backend, pgqueue.Config{})
			require.NoError(b, err)
			ctx := context.Background()
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					tx, err := pool.Begin(ctx)
					if err == nil {
						if _, err = c.EnqueueTx(ctx, tx, pingArgs{Seq: 1}, nil); err == nil {
							err = tx.Commit(ctx)
						} else {
							_ = tx.Rollback(ctx)
						}
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
