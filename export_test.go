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
		wake: make(chan struct{}, 1), jobs: make(chan *JobRow, fetchBuffer(max, ahead))}
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

// StatsRollupForTest drives a client's stats rollup by hand: the runs it
// observes and the flushes it makes, against a real store.
type StatsRollupForTest struct{ s *statsRollup }

// NewStatsRollupForTest returns a rollup writing to store with retention.
func NewStatsRollupForTest(store StatsRecorder, retention time.Duration) *StatsRollupForTest {
	log := slog.New(slog.DiscardHandler)
	return &StatsRollupForTest{&statsRollup{store: store, interval: time.Hour, retention: retention, log: log,
		failures: &failureLog{log: log, msg: "test", every: time.Minute}, pending: map[statsKey]*StatsRollup{}}}
}

// Observe counts one run of row ending as kind at at.
func (r *StatsRollupForTest) Observe(row *JobRow, kind EventKind, ran bool, took time.Duration, at time.Time) {
	r.s.observe(row, kind, ran, took, at)
}

// Flush runs one flush step.
func (r *StatsRollupForTest) Flush(ctx context.Context) error { return r.s.flush(ctx) }

// Pending returns how many rows wait for the next flush.
func (r *StatsRollupForTest) Pending() int { return r.s.pendingRows() }

// MaxPendingStatsRows is the rollup's bound on rows kept across failures.
const MaxPendingStatsRows = maxPendingStatsRows

// PruneStatsStep prunes store's stats older than retention before now,
// as the upkeeper does, and returns how many rows it deleted.
func PruneStatsStep(ctx context.Context, store StatsRecorder, retention time.Duration, now time.Time) (int, error) {
	u := &upkeeper{stats: store, retention: retention, log: slog.New(slog.DiscardHandler)}
	return u.pruneStats(ctx, now)
}

// XactCommitted is PostgresBackend.xactCommitted: whether transaction
// xact (as pg_current_xact_id returns it) committed.
func XactCommitted(ctx context.Context, b *PostgresBackend, xact int64) (bool, error) {
	return b.xactCommitted(ctx, xact)
}
