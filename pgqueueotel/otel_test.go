package pgqueueotel_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/memqueue"
	"github.com/pgqueue/pgqueue/pgqueueotel"
)

type mail struct {
	To string `json:"to"`
}

func (mail) Kind() string { return "mail" }

func TestSpansAreLinkedAndMetricsCounted(t *testing.T) {
	t.Parallel()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	inst, err := pgqueueotel.New(pgqueueotel.WithTracerProvider(tp), pgqueueotel.WithMeterProvider(mp))
	require.NoError(t, err)

	c, err := pgqueue.New(memqueue.New(), pgqueue.Config{
		PollInterval:      20 * time.Millisecond,
		Retry:             pgqueue.RetryPolicy{Base: time.Millisecond, NoJitter: true},
		Middleware:        []pgqueue.Middleware{inst.Middleware()},
		EnqueueMiddleware: []pgqueue.EnqueueMiddleware{inst.EnqueueMiddleware()},
	})
	require.NoError(t, err)
	done := make(chan string, 4)
	var outsideSpan atomic.Bool
	require.NoError(t, pgqueue.Register(c, pgqueue.WorkFunc[mail](func(ctx context.Context, j *pgqueue.Job[mail]) error {
		if !trace.SpanContextFromContext(ctx).IsValid() {
			outsideSpan.Store(true)
		}
		if j.Args.To == "bad" {
			done <- "bad"
			return pgqueue.Permanent(errors.New("no such mailbox"))
		}
		done <- j.Args.To
		return nil
	})))
	require.NoError(t, c.Start(context.Background()))
	defer c.Stop(context.Background())

	ctx, parent := tp.Tracer("app").Start(context.Background(), "signup")
	_, err = c.Enqueue(ctx, mail{To: "ada"}, nil)
	require.NoError(t, err)
	parent.End()
	_, err = c.Enqueue(context.Background(), mail{To: "bad"}, nil)
	require.NoError(t, err)
	for range 2 {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("jobs did not run")
		}
	}
	require.False(t, outsideSpan.Load(), "the worker must run inside the work span")
	require.Eventually(t, func() bool { return len(spans.Ended()) >= 5 }, 5*time.Second, 10*time.Millisecond, "signup, 2 enqueues, 2 runs")

	var enqueueSpan, workSpan sdktrace.ReadOnlySpan
	for _, s := range spans.Ended() {
		switch {
		case s.Name() == "pgqueue.enqueue" && s.Parent().TraceID() == parent.SpanContext().TraceID():
			enqueueSpan = s
		case s.Name() == "pgqueue.work mail" && workSpan == nil:
			for _, l := range s.Links() {
				if l.SpanContext.TraceID() == parent.SpanContext().TraceID() {
					workSpan = s
				}
			}
		}
	}
	require.NotNil(t, enqueueSpan, "the enqueue span is a child of the caller's span")
	require.NotNil(t, workSpan, "the run's span links back to the trace that enqueued it")
	require.Equal(t, enqueueSpan.SpanContext().SpanID(), workSpan.Links()[0].SpanContext.SpanID())

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	sums := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if s, ok := m.Data.(metricdata.Sum[int64]); ok {
				for _, dp := range s.DataPoints {
					key := m.Name
					if v, ok := dp.Attributes.Value("pgqueue.outcome"); ok {
						key += "/" + v.AsString()
					}
					sums[key] += dp.Value
				}
			}
		}
	}
	require.Equal(t, int64(2), sums["pgqueue.jobs.enqueued"])
	require.Equal(t, int64(2), sums["pgqueue.jobs.started"])
	require.Equal(t, int64(1), sums["pgqueue.jobs.finished/completed"])
	require.Equal(t, int64(1), sums["pgqueue.jobs.finished/dead"])
}
