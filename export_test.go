package pgqueue

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// TrailState exposes the trailing notifier's counters to the external
// tests: enqueues that skipped their own NOTIFY, transactions still
// tracked, and whether the notifier goroutine runs.
func TrailState(b *PostgresBackend) (skipped int64, pending int, running bool) {
	return b.notify.trailState()
}

// One step of each background loop, for the external tests, which can
// run them against real backends (memqueue, Postgres).

// PromoteStep runs one promoter pass and returns the wait before the next.
func PromoteStep(ctx context.Context, b Backend, interval time.Duration, wake func(...string)) time.Duration {
	p := &promoter{backend: b, interval: interval, kick: make(chan struct{}, 1), wake: wake, log: slog.New(slog.DiscardHandler)}
	return p.step(ctx)
}

// RescueStep runs one rescuer pass.
func RescueStep(ctx context.Context, b Backend, wake func(...string)) RescueResult {
	r := &rescuer{backend: b, interval: time.Hour, wake: wake, log: slog.New(slog.DiscardHandler)}
	return r.rescue(ctx)
}

// HeartbeatStep heartbeats refs once and returns those whose runs it
// cancelled as lost.
func HeartbeatStep(ctx context.Context, b Backend, refs []JobRef, lease time.Duration) []JobRef {
	h := &heartbeater{backend: b, running: &runningSet{}, interval: 10 * time.Second, lease: lease, log: slog.New(slog.DiscardHandler)}
	var (
		mu        sync.Mutex
		cancelled []JobRef
	)
	for _, ref := range refs {
		h.running.add(&jobState{ref: ref, cancel: func(cause error) {
			if errors.Is(cause, ErrLeaseLost) {
				mu.Lock()
				cancelled = append(cancelled, ref)
				mu.Unlock()
			}
		}})
	}
	h.step(ctx)
	return cancelled
}

// CensusStep takes one census of queues for a client working kinds.
func CensusStep(ctx context.Context, store KindCensus, queues, kinds []string, interval time.Duration) map[string]map[string]int {
	c := &census{store: store, queues: queues, kinds: kinds, interval: interval, log: slog.New(slog.DiscardHandler)}
	c.step(ctx)
	return c.latest()
}

// FetchStep runs one fetch of queue with max free slots and returns what
// it handed over and whether it saw a backlog.
func FetchStep(ctx context.Context, b Backend, queue string, kinds []string, max, ahead int) ([]*JobRow, bool) {
	q := &queueFetcher{name: queue, max: max, ahead: ahead, interval: time.Hour, backend: b, claimCtx: ctx, log: slog.New(slog.DiscardHandler),
		claim: ClaimParams{Queue: queue, Kinds: kinds, Lease: time.Minute, ClientID: "test"}, claimed: func(*JobRow) {},
		wake: make(chan struct{}, 1), jobs: make(chan *JobRow, max+ahead)}
	q.step(ctx)
	close(q.jobs)
	var out []*JobRow
	for row := range q.jobs {
		out = append(out, row)
	}
	return out, q.backlog.Load()
}

// ClaimAhead is claimAhead, for the external tests.
func ClaimAhead(cfg Config, queue string, max int) int { return claimAhead(cfg, queue, max) }

// CeilingStatements renders, for schema, the statements the pgbench
// ceiling scripts run: the claim's plan settings, the claim and the
// completion.
func CeilingStatements(schema string) (claimPlan, claim, complete string, err error) {
	q, err := renderQueries(schema)
	return q.ClaimPlan, q.Claim, q.Complete, err
}
