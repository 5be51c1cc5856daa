// Package pgqueueotel instruments pgqueue with OpenTelemetry: a span per
// enqueue and per job run (linked, through the job's metadata, to the span
// that enqueued it) and metrics of jobs started, finished by outcome,
// their duration and their queue lag. It lives apart from pgqueue so that
// the core does not depend on OpenTelemetry.
//
//	inst, _ := pgqueueotel.New()
//	client, _ := pgqueue.New(backend, pgqueue.Config{
//		Middleware:        []pgqueue.Middleware{inst.Middleware()},
//		EnqueueMiddleware: []pgqueue.EnqueueMiddleware{inst.EnqueueMiddleware()},
//	})
package pgqueueotel

import (
	"context"
	"errors"
	"maps"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/pgqueue/pgqueue"
)

const scope = "github.com/pgqueue/pgqueue/pgqueueotel"

// Option configures New.
type Option func(*config)

type config struct {
	tp   trace.TracerProvider
	mp   metric.MeterProvider
	prop propagation.TextMapPropagator
}

// WithTracerProvider sets the tracer provider. Default: otel's global.
func WithTracerProvider(tp trace.TracerProvider) Option { return func(c *config) { c.tp = tp } }

// WithMeterProvider sets the meter provider. Default: otel's global.
func WithMeterProvider(mp metric.MeterProvider) Option { return func(c *config) { c.mp = mp } }

// WithPropagator sets how trace context is written into and read from job
// metadata. Default: W3C trace context.
func WithPropagator(p propagation.TextMapPropagator) Option { return func(c *config) { c.prop = p } }

// Instrumentation holds the tracer and instruments.
type Instrumentation struct {
	meter    metric.Meter
	tracer   trace.Tracer
	prop     propagation.TextMapPropagator
	enqueued metric.Int64Counter
	started  metric.Int64Counter
	finished metric.Int64Counter
	duration metric.Float64Histogram
	lag      metric.Float64Histogram
}

// New builds the instrumentation. It returns an error if an instrument
// cannot be created by the meter provider.
func New(opts ...Option) (*Instrumentation, error) {
	c := config{tp: otel.GetTracerProvider(), mp: otel.GetMeterProvider(), prop: propagation.TraceContext{}}
	for _, o := range opts {
		o(&c)
	}
	m := c.mp.Meter(scope)
	i := &Instrumentation{meter: m, tracer: c.tp.Tracer(scope), prop: c.prop}
	var err error
	if i.enqueued, err = m.Int64Counter("pgqueue.jobs.enqueued", metric.WithDescription("Jobs enqueued, by kind and queue.")); err != nil {
		return nil, err
	}
	if i.started, err = m.Int64Counter("pgqueue.jobs.started", metric.WithDescription("Job runs started, by kind and queue.")); err != nil {
		return nil, err
	}
	if i.finished, err = m.Int64Counter("pgqueue.jobs.finished", metric.WithDescription("Job runs finished, by kind, queue and outcome (completed, failed, dead, snoozed, cancelled).")); err != nil {
		return nil, err
	}
	if i.duration, err = m.Float64Histogram("pgqueue.job.duration", metric.WithUnit("s"), metric.WithDescription("How long job runs take.")); err != nil {
		return nil, err
	}
	if i.lag, err = m.Float64Histogram("pgqueue.job.lag", metric.WithUnit("s"), metric.WithDescription("How long a due job waited before it started.")); err != nil {
		return nil, err
	}
	return i, nil
}

// metadataCarrier lets a propagator write into and read from job metadata.
type metadataCarrier map[string]string

func (m metadataCarrier) Get(k string) string { return m[k] }
func (m metadataCarrier) Set(k, v string)     { m[k] = v }
func (m metadataCarrier) Keys() []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

// EnqueueMiddleware records an enqueue span (kind producer) and writes its
// trace context into each job's metadata, so that the runs link to it.
func (i *Instrumentation) EnqueueMiddleware() pgqueue.EnqueueMiddleware {
	return func(next pgqueue.EnqueueHandler) pgqueue.EnqueueHandler {
		return func(ctx context.Context, jobs []pgqueue.InsertParams) ([]int64, error) {
			ctx, span := i.tracer.Start(ctx, "pgqueue.enqueue", trace.WithSpanKind(trace.SpanKindProducer),
				trace.WithAttributes(attribute.Int("pgqueue.jobs", len(jobs))))
			defer span.End()
			for k := range jobs {
				md := maps.Clone(jobs[k].Metadata)
				if md == nil {
					md = map[string]string{}
				}
				i.prop.Inject(ctx, metadataCarrier(md))
				jobs[k].Metadata = md
			}
			ids, err := next(ctx, jobs)
			if err != nil && !errors.Is(err, pgqueue.ErrDuplicateJob) {
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
				return ids, err
			}
			for _, j := range jobs {
				i.enqueued.Add(ctx, 1, metric.WithAttributes(attribute.String("pgqueue.kind", j.Kind), attribute.String("pgqueue.queue", j.Queue)))
			}
			return ids, err
		}
	}
}

// Middleware records a span per run (kind consumer, linked to the enqueue
// span found in the job's metadata) and the run metrics.
func (i *Instrumentation) Middleware() pgqueue.Middleware {
	return func(next pgqueue.Handler) pgqueue.Handler {
		return func(ctx context.Context, job *pgqueue.JobMeta) error {
			attrs := []attribute.KeyValue{attribute.String("pgqueue.kind", job.Kind), attribute.String("pgqueue.queue", job.Queue)}
			var links []trace.Link
			if len(job.Metadata) > 0 {
				if sc := trace.SpanContextFromContext(i.prop.Extract(context.Background(), metadataCarrier(job.Metadata))); sc.IsValid() {
					links = append(links, trace.Link{SpanContext: sc})
				}
			}
			ctx, span := i.tracer.Start(ctx, "pgqueue.work "+job.Kind, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithLinks(links...),
				trace.WithAttributes(append(attrs, attribute.Int64("pgqueue.job_id", job.ID), attribute.Int("pgqueue.attempt", job.Attempt))...))
			defer span.End()
			set := metric.WithAttributes(attrs...)
			i.started.Add(ctx, 1, set)
			if !job.ScheduledAt.IsZero() {
				i.lag.Record(ctx, max(0, time.Since(job.ScheduledAt).Seconds()), set)
			}
			start := time.Now()
			err := next(ctx, job)
			i.duration.Record(ctx, time.Since(start).Seconds(), set)
			outcome := outcomeOf(ctx, job, err)
			i.finished.Add(ctx, 1, metric.WithAttributes(append(attrs, attribute.String("pgqueue.outcome", outcome))...))
			if err != nil && outcome != "snoozed" {
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
			}
			span.SetAttributes(attribute.String("pgqueue.outcome", outcome))
			return err
		}
	}
}

// outcomeOf names what will become of a run, as the engine will decide it.
func outcomeOf(ctx context.Context, job *pgqueue.JobMeta, err error) string {
	var perr *pgqueue.DecodeError
	switch {
	case err == nil:
		return "completed"
	case errors.Is(context.Cause(ctx), pgqueue.ErrJobCancelled):
		return "cancelled"
	case pgqueue.IsSnooze(err):
		return "snoozed"
	case pgqueue.IsPermanent(err), errors.As(err, &perr), job.Attempt >= job.MaxAttempts:
		return "dead"
	default:
		return "failed"
	}
}
