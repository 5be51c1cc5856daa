package pgqueueotel_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
	"github.com/pgqueue/pgqueue/memqueue"
	"github.com/pgqueue/pgqueue/pgqueueotel"
)

// gaugePoints collects one metric's gauge points as "attr=value,..." keys.
func gaugePoints(t *testing.T, rm metricdata.ResourceMetrics, name string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			key := func(set attribute.Set) string {
				s := ""
				for _, kv := range set.ToSlice() {
					s += string(kv.Key) + "=" + kv.Value.String() + ","
				}
				return s
			}
			switch d := m.Data.(type) {
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					out[key(p.Attributes)] = float64(p.Value)
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					out[key(p.Attributes)] = p.Value
				}
			}
		}
	}
	return out
}

// The queue gauges report depth per queue and state, the age of the
// oldest due job, pauses and dead letters, on any backend with stats.
func TestQueueGaugesReportDepthAgeAndDeadLetters(t *testing.T) {
	t.Parallel()
	for name, b := range map[string]pgqueue.Backend{"memqueue": memqueue.New(), "postgres": pgtest.Backend(t)} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			reader := sdkmetric.NewManualReader()
			inst, err := pgqueueotel.New(pgqueueotel.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
			require.NoError(t, err)
			c, err := pgqueue.New(b, pgqueue.Config{})
			require.NoError(t, err)
			var ids []int64
			for range 4 {
				id, err := c.Enqueue(ctx, mail{To: "a"}, &pgqueue.EnqueueOptions{Queue: "mail"})
				require.NoError(t, err)
				ids = append(ids, id)
			}
			require.NoError(t, c.Cancel(ctx, ids[0]), "cancel one job into the dead letters")
			_, err = c.Enqueue(ctx, mail{To: "later"}, &pgqueue.EnqueueOptions{Queue: "mail", Delay: time.Hour})
			require.NoError(t, err)
			admin := pgqueue.NewAdmin(b)
			require.NoError(t, admin.PauseQueue(ctx, "mail"))
			time.Sleep(50 * time.Millisecond) // the oldest due job has waited a while

			gauges, err := inst.ObserveQueues(admin, 0)
			require.NoError(t, err)
			defer gauges.Unregister()
			var rm metricdata.ResourceMetrics
			require.NoError(t, reader.Collect(ctx, &rm))

			depth := gaugePoints(t, rm, "pgqueue.queue.jobs")
			require.Equal(t, 3.0, depth["pgqueue.queue=mail,pgqueue.state=available,"], "available jobs of queue mail: %v", depth)
			require.Equal(t, 1.0, depth["pgqueue.queue=mail,pgqueue.state=scheduled,"], "scheduled jobs of queue mail: %v", depth)
			require.Equal(t, 0.0, depth["pgqueue.queue=mail,pgqueue.state=running,"], "running jobs of queue mail: %v", depth)
			age := gaugePoints(t, rm, "pgqueue.queue.oldest_due_age")
			require.Greater(t, age["pgqueue.queue=mail,"], 0.0, "the oldest due job has waited: %v", age)
			require.Equal(t, 1.0, gaugePoints(t, rm, "pgqueue.queue.paused")["pgqueue.queue=mail,"], "queue mail is paused")
			require.Equal(t, 1.0, gaugePoints(t, rm, "pgqueue.dead.jobs")["pgqueue.kind=mail,"], "one dead letter of kind mail")
		})
	}
}
