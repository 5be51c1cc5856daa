package pgqueue_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
	"github.com/pgqueue/pgqueue/memqueue"
)

// Benchmarks run each backend in the same process, so their figures can be
// read as ratios: go test -run '^$' -bench . -benchtime 2000x .

func benchBackends() map[string]func(b *testing.B) pgqueue.Backend {
	return map[string]func(b *testing.B) pgqueue.Backend{
		"memqueue": func(b *testing.B) pgqueue.Backend { return memqueue.New() },
		"postgres": func(b *testing.B) pgqueue.Backend { return pgtest.Backend(b) },
	}
}

// BenchmarkEnqueue measures one job per Enqueue call (one commit each).
func BenchmarkEnqueue(b *testing.B) {
	for name, newBackend := range benchBackends() {
		b.Run(name, func(b *testing.B) {
			c, err := pgqueue.New(newBackend(b), pgqueue.Config{})
			require.NoError(b, err)
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := c.Enqueue(ctx, pingArgs{Seq: i}, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEnqueueMany100 measures jobs enqueued 100 per EnqueueMany call.
func BenchmarkEnqueueMany100(b *testing.B) {
	for name, newBackend := range benchBackends() {
		b.Run(name, func(b *testing.B) {
			c, err := pgqueue.New(newBackend(b), pgqueue.Config{})
			require.NoError(b, err)
			ctx := context.Background()
			reqs := make([]pgqueue.EnqueueRequest, 100)
			for i := range reqs {
				reqs[i] = pgqueue.EnqueueRequest{Args: pingArgs{Seq: i}}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i += len(reqs) {
				if _, err := c.EnqueueMany(ctx, reqs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWork measures end-to-end throughput: b.N jobs enqueued up
// front, then worked by one client with 50 workers; the figure is time per
// job from Start until the last job completed.
func BenchmarkWork(b *testing.B) {
	for name, newBackend := range benchBackends() {
		b.Run(name, func(b *testing.B) {
			backend := newBackend(b)
			ctx := context.Background()
			c, err := pgqueue.New(backend, pgqueue.Config{Queues: map[string]pgqueue.QueueConfig{"default": {MaxWorkers: 50}}})
			require.NoError(b, err)
			var done atomic.Int64
			all := make(chan struct{})
			n := int64(b.N)
			require.NoError(b, pgqueue.Register(c, pgqueue.WorkFunc[pingArgs](func(ctx context.Context, j *pgqueue.Job[pingArgs]) error {
				if done.Add(1) == n {
					close(all)
				}
				return nil
			})))
			reqs := make([]pgqueue.EnqueueRequest, 0, 1000)
			for i := 0; i < b.N; i++ {
				reqs = append(reqs, pgqueue.EnqueueRequest{Args: pingArgs{Seq: i}})
				if len(reqs) == cap(reqs) || i == b.N-1 {
					_, err := c.EnqueueMany(ctx, reqs)
					require.NoError(b, err)
					reqs = reqs[:0]
				}
			}
			b.ResetTimer()
			require.NoError(b, c.Start(ctx))
			select {
			case <-all:
			case <-time.After(5 * time.Minute):
				b.Fatalf("only %d of %d jobs done", done.Load(), n)
			}
			b.StopTimer()
			require.NoError(b, c.Stop(ctx))
		})
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
	for name, newBackend := range benchBackends() {
		b.Run(name, func(b *testing.B) {
			backend := newBackend(b)
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
	for name, newBackend := range benchBackends() {
		b.Run(name, func(b *testing.B) {
			backend := newBackend(b)
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
