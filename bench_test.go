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
