package pgqueueotel

// Queue gauges: depth per queue and state, the age of the oldest due job,
// dead letters by kind, read from Admin.Stats on any backend.

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/pgqueue/pgqueue"
)

// DefaultStatsEvery is how old a Stats snapshot the queue gauges report
// may be: collections closer together than this reuse the last snapshot,
// so that a busy metrics pipeline never turns into load on the store.
const DefaultStatsEvery = 10 * time.Second

// QueueGauges is the registration of the queue gauges; Unregister stops
// them.
type QueueGauges struct {
	reg metric.Registration
}

// Unregister stops reporting the queue gauges. It returns the meter's
// error, if any.
func (g *QueueGauges) Unregister() error { return g.reg.Unregister() }

// ObserveQueues registers observable gauges fed by admin.Stats, on any
// backend whose Admin can report stats:
//
//   - pgqueue.queue.jobs: jobs per queue and state (available, scheduled,
//     running); counts past pgqueue.StatsExactLimit are estimates;
//   - pgqueue.queue.oldest_due_age (s): how long the oldest due job of
//     each queue has waited, the first sign of a queue falling behind;
//   - pgqueue.queue.paused: 1 for a paused queue, else 0;
//   - pgqueue.dead.jobs: dead letters per kind.
//
// A snapshot is taken at most once per every (0: DefaultStatsEvery), and
// each is bounded by a 10 s timeout. A failed snapshot reports nothing
// for that collection (the gauges go quiet rather than report zeros). It
// returns an error if the meter cannot create an instrument or register
// the callback.
func (i *Instrumentation) ObserveQueues(admin *pgqueue.Admin, every time.Duration) (*QueueGauges, error) {
	if every <= 0 {
		every = DefaultStatsEvery
	}
	depth, err := i.meter.Int64ObservableGauge("pgqueue.queue.jobs", metric.WithDescription("Jobs per queue and state (available, scheduled, running)."))
	if err != nil {
		return nil, err
	}
	age, err := i.meter.Float64ObservableGauge("pgqueue.queue.oldest_due_age", metric.WithUnit("s"), metric.WithDescription("How long the oldest due job of the queue has waited."))
	if err != nil {
		return nil, err
	}
	paused, err := i.meter.Int64ObservableGauge("pgqueue.queue.paused", metric.WithDescription("1 while the queue is paused, else 0."))
	if err != nil {
		return nil, err
	}
	dead, err := i.meter.Int64ObservableGauge("pgqueue.dead.jobs", metric.WithDescription("Dead letters per kind."))
	if err != nil {
		return nil, err
	}
	snap := &statsCache{admin: admin, every: every}
	reg, err := i.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		st, err := snap.get(ctx)
		if err != nil {
			return nil // quiet, not zero: see ObserveQueues
		}
		for _, q := range st.Queues {
			queue := attribute.String("pgqueue.queue", q.Queue)
			o.ObserveInt64(depth, q.Available.N, metric.WithAttributes(queue, attribute.String("pgqueue.state", "available")))
			o.ObserveInt64(depth, q.Scheduled.N, metric.WithAttributes(queue, attribute.String("pgqueue.state", "scheduled")))
			o.ObserveInt64(depth, q.Running.N, metric.WithAttributes(queue, attribute.String("pgqueue.state", "running")))
			o.ObserveFloat64(age, q.Lag.Seconds(), metric.WithAttributes(queue))
			var p int64
			if q.Paused {
				p = 1
			}
			o.ObserveInt64(paused, p, metric.WithAttributes(queue))
		}
		for _, k := range st.Dead {
			o.ObserveInt64(dead, k.Count.N, metric.WithAttributes(attribute.String("pgqueue.kind", k.Kind)))
		}
		return nil
	}, depth, age, paused, dead)
	if err != nil {
		return nil, err
	}
	return &QueueGauges{reg: reg}, nil
}

// statsCache keeps the last Stats snapshot for every.
type statsCache struct {
	admin *pgqueue.Admin
	every time.Duration

	mu   sync.Mutex
	at   time.Time
	last *pgqueue.Stats
}

func (c *statsCache) get(ctx context.Context) (*pgqueue.Stats, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last != nil && time.Since(c.at) < c.every {
		return c.last, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := c.admin.Stats(ctx)
	if err != nil {
		return nil, err
	}
	c.last, c.at = st, time.Now()
	return st, nil
}
