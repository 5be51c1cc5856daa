package queuetest

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
)

// BenchBackend names a backend for the shared benchmarks. New returns a
// fresh, isolated store.
type BenchBackend struct {
	// Name labels the backend's sub-benchmark, e.g. "memqueue".
	Name string
	// New returns the store to measure; it is called with the
	// sub-benchmark's b each time that sub-benchmark runs.
	New func(b *testing.B) pgqueue.Backend
}

// benchArgs is the benchmarks' no-op job.
type benchArgs struct {
	Seq int `json:"seq"`
}

func (benchArgs) Kind() string { return "queuetest.bench" }

// reportJobsPerSecond adds a jobs/s column, easier to read than ns/op.
func reportJobsPerSecond(b *testing.B, jobs int) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(jobs)/s, "jobs/s")
	}
}

// BenchmarkEnqueue measures one job per Enqueue call on each backend, in
// one run so that their figures can be read side by side.
func BenchmarkEnqueue(b *testing.B, backends []BenchBackend) {
	for _, bb := range backends {
		b.Run(bb.Name, func(b *testing.B) {
			c, err := pgqueue.New(bb.New(b), pgqueue.Config{})
			require.NoError(b, err)
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := c.Enqueue(ctx, benchArgs{Seq: i}, nil); err != nil {
					b.Fatal(err)
				}
			}
			reportJobsPerSecond(b, b.N)
		})
	}
}

// BenchmarkEnqueueMany measures jobs enqueued per EnqueueMany calls of
// batch jobs; ns/op is per job.
func BenchmarkEnqueueMany(b *testing.B, backends []BenchBackend, batch int) {
	for _, bb := range backends {
		b.Run(bb.Name, func(b *testing.B) {
			c, err := pgqueue.New(bb.New(b), pgqueue.Config{})
			require.NoError(b, err)
			ctx := context.Background()
			reqs := make([]pgqueue.EnqueueRequest, batch)
			for i := range reqs {
				reqs[i] = pgqueue.EnqueueRequest{Args: benchArgs{Seq: i}}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i += batch {
				if _, err := c.EnqueueMany(ctx, reqs[:min(batch, b.N-i)]); err != nil {
					b.Fatal(err)
				}
			}
			reportJobsPerSecond(b, b.N)
		})
	}
}

// BenchmarkWork measures end-to-end throughput: b.N jobs enqueued up
// front, then worked by one client with workers workers; the time runs from
// Start until the last job has run.
func BenchmarkWork(b *testing.B, backends []BenchBackend, workers int) {
	for _, bb := range backends {
		b.Run(bb.Name, func(b *testing.B) {
			ctx := context.Background()
			c, err := pgqueue.New(bb.New(b), pgqueue.Config{Queues: map[string]pgqueue.QueueConfig{pgqueue.DefaultQueue: {MaxWorkers: workers}}})
			require.NoError(b, err)
			var done atomic.Int64
			all := make(chan struct{})
			n := int64(b.N)
			require.NoError(b, pgqueue.Register(c, pgqueue.WorkFunc[benchArgs](func(ctx context.Context, j *pgqueue.Job[benchArgs]) error {
				if done.Add(1) == n {
					close(all)
				}
				return nil
			})))
			reqs := make([]pgqueue.EnqueueRequest, 0, 1000)
			for i := 0; i < b.N; i++ {
				reqs = append(reqs, pgqueue.EnqueueRequest{Args: benchArgs{Seq: i}})
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
