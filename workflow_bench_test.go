package pgqueue_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
)

// workflowShapes builds a workflow of n tasks in each benchmarked shape.
var workflowShapes = map[string]func(n int) *pgqueue.Workflow{
	// One root, every other task after it.
	"fan-out": func(n int) *pgqueue.Workflow {
		wf := pgqueue.NewWorkflow("fan-out")
		root := wf.Add(pingArgs{Seq: 0}, nil, pgqueue.Named("root"))
		for i := 1; i < n; i++ {
			wf.Add(pingArgs{Seq: i}, nil, pgqueue.Named(itoaName(i)), pgqueue.After(root))
		}
		return wf
	},
	// Every task but the last at once, the last after all of them.
	"fan-in": func(n int) *pgqueue.Workflow {
		wf := pgqueue.NewWorkflow("fan-in")
		deps := make([]*pgqueue.Task, 0, n-1)
		for i := 0; i < n-1; i++ {
			deps = append(deps, wf.Add(pingArgs{Seq: i}, nil, pgqueue.Named(itoaName(i))))
		}
		wf.Add(pingArgs{Seq: n}, nil, pgqueue.Named("join"), pgqueue.After(deps...))
		return wf
	},
	// Each task after the one before: nothing runs in parallel.
	"chain": func(n int) *pgqueue.Workflow {
		wf := pgqueue.NewWorkflow("chain")
		prev := wf.Add(pingArgs{Seq: 0}, nil, pgqueue.Named("0"))
		for i := 1; i < n; i++ {
			prev = wf.Add(pingArgs{Seq: i}, nil, pgqueue.Named(itoaName(i)), pgqueue.After(prev))
		}
		return wf
	},
	// 10 layers of n/10 tasks, each after two tasks of the layer before.
	"layered": func(n int) *pgqueue.Workflow {
		wf := pgqueue.NewWorkflow("layered")
		width := n / 10
		var prev []*pgqueue.Task
		for layer := 0; layer < 10; layer++ {
			cur := make([]*pgqueue.Task, width)
			for i := range width {
				var opts []pgqueue.TaskOption
				opts = append(opts, pgqueue.Named(itoaName(layer*width+i)))
				if prev != nil {
					opts = append(opts, pgqueue.After(prev[i], prev[(i+1)%width]))
				}
				cur[i] = wf.Add(pingArgs{Seq: layer*width + i}, nil, opts...)
			}
			prev = cur
		}
		return wf
	},
}

func itoaName(i int) string {
	const digits = "0123456789"
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{digits[i%10]}, b...)
	}
	return string(b)
}

// BenchmarkWorkflow10k enqueues and runs 10,000 no-op tasks on Postgres,
// as plain jobs and as workflows of four shapes, and reports tasks/s (the
// enqueue included) so the shapes compare with plain jobs of the same
// count:
//
//	go test -run '^$' -bench Workflow10k -benchtime 1x .
func BenchmarkWorkflow10k(b *testing.B) {
	const n = 10_000
	run := func(b *testing.B, enqueue func(ctx context.Context, c *pgqueue.Client) error) {
		backend := pgtest.Backend(b)
		ctx := context.Background()
		var done atomic.Int64
		finished := make(chan struct{}, 1)
		c, err := pgqueue.New(backend, pgqueue.Config{PollInterval: 100 * time.Millisecond})
		require.NoError(b, err)
		require.NoError(b, pgqueue.Register(c, pgqueue.WorkFunc[pingArgs](func(ctx context.Context, j *pgqueue.Job[pingArgs]) error {
			if done.Add(1) == n {
				finished <- struct{}{}
			}
			return nil
		})))
		require.NoError(b, c.Start(ctx))
		defer func() { _ = c.Stop(ctx) }()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			done.Store(0)
			start := time.Now()
			require.NoError(b, enqueue(ctx, c))
			select {
			case <-finished:
			case <-time.After(5 * time.Minute):
				b.Fatalf("only %d of %d tasks ran within 5 minutes", done.Load(), n)
			}
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "tasks/s")
		}
	}
	b.Run("plain", func(b *testing.B) {
		run(b, func(ctx context.Context, c *pgqueue.Client) error {
			reqs := make([]pgqueue.EnqueueRequest, n)
			for i := range reqs {
				reqs[i] = pgqueue.EnqueueRequest{Args: pingArgs{Seq: i}}
			}
			_, err := c.EnqueueMany(ctx, reqs)
			return err
		})
	})
	for _, shape := range []string{"fan-out", "fan-in", "chain", "layered"} {
		b.Run(shape, func(b *testing.B) {
			run(b, func(ctx context.Context, c *pgqueue.Client) error {
				_, err := c.EnqueueWorkflow(ctx, workflowShapes[shape](n))
				return err
			})
		})
	}
}
