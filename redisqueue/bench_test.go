package redisqueue_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
	"github.com/pgqueue/pgqueue/internal/redistest"
)

// The benchmarks run Redis and Postgres in the same process and the same
// run, so the README can set their figures side by side:
//
//	go test -run '^$' -bench . -benchtime 5000x ./redisqueue/
//
// Each backend gets a fresh store (a key prefix, a migrated schema).

type benchBackend struct {
	name string
	new  func(b *testing.B) pgqueue.Backend
}

func benchBackends() []benchBackend {
	return []benchBackend{
		{"redis", func(b *testing.B) pgqueue.Backend { return redistest.Backend(b) }},
		{"postgres", func(b *testing.B) pgqueue.Backend { return pgtest.Backend(b) }},
	}
}

// BenchmarkEnqueue measures one job per Enqueue call.
func BenchmarkEnqueue(b *testing.B) {
	for _, bb := range benchBackends() {
		b.Run(bb.name, func(b *testing.B) {
			c, err := pgqueue.New(bb.new(b), pgqueue.Config{})
			require.NoError(b, err)
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := c.Enqueue(ctx, pingArgs{Seq: i}, nil); err != nil {
					b.Fatal(err)
				}
			}
			reportJobsPerSecond(b, b.N)
		})
	}
}

// BenchmarkEnqueueMany100 measures jobs enqueued 100 per EnqueueMany call;
// the figure is per job.
func BenchmarkEnqueueMany100(b *testing.B) {
	for _, bb := range benchBackends() {
		b.Run(bb.name, func(b *testing.B) {
			c, err := pgqueue.New(bb.new(b), pgqueue.Config{})
			require.NoError(b, err)
			ctx := context.Background()
			reqs := make([]pgqueue.EnqueueRequest, 100)
			for i := range reqs {
				reqs[i] = pgqueue.EnqueueRequest{Args: pingArgs{Seq: i}}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i += len(reqs) {
				if _, err := c.EnqueueMany(ctx, reqs[:min(len(reqs), b.N-i)]); err != nil {
					b.Fatal(err)
				}
			}
			reportJobsPerSecond(b, b.N)
		})
	}
}

// BenchmarkWork measures end-to-end throughput: b.N jobs enqueued up
// front, then worked by one client with 50 workers on a no-op handler; the
// figure is time per job from Start until the last job ran.
func BenchmarkWork(b *testing.B) {
	for _, bb := range benchBackends() {
		b.Run(bb.name, func(b *testing.B) {
			ctx := context.Background()
			c, err := pgqueue.New(bb.new(b), pgqueue.Config{Queues: map[string]pgqueue.QueueConfig{pgqueue.DefaultQueue: {MaxWorkers: 50}}})
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
			reportJobsPerSecond(b, b.N)
			require.NoError(b, c.Stop(ctx))
		})
	}
}

// reportJobsPerSecond adds a jobs/s column, easier to read than ns/op.
func reportJobsPerSecond(b *testing.B, jobs int) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(jobs)/s, "jobs/s")
	}
}
