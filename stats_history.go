package pgqueue

// Per-minute stats history: the types the operator API returns and the
// optional backend interface that stores and reads the rollups.

import (
	"context"
	"time"
)

// StatsPoint is one step of the stats history: what finished in the step
// starting at At, summed over every client and over the queues asked for.
type StatsPoint struct {
	// At is the start of the step, truncated to the step.
	At time.Time `json:"at"`
	// Completed counts jobs that finished successfully.
	Completed int64 `json:"completed"`
	// Failed counts attempts that returned an error and were retried.
	Failed int64 `json:"failed"`
	// Dead counts jobs moved to the dead-letter store.
	Dead int64 `json:"dead"`
	// Cancelled counts running jobs that ended because they were cancelled.
	Cancelled int64 `json:"cancelled"`
	// LeaseLost counts runs whose result was not stored because the lease
	// had been lost.
	LeaseLost int64 `json:"lease_lost"`
	// RunP50 and RunP95 are the median and 95th percentile of the handlers'
	// run time, read from log-scale histogram buckets (an upper bound of
	// the bucket holding the percentile); zero when nothing finished.
	RunP50 time.Duration `json:"run_p50"`
	RunP95 time.Duration `json:"run_p95"`
	// WaitP50 and WaitP95 are the same for wait time: from when a job was
	// due (its run-at) to when it was claimed.
	WaitP50 time.Duration `json:"wait_p50"`
	WaitP95 time.Duration `json:"wait_p95"`
}

// StatsHistoryQuery selects the stats history Admin.StatsHistory reads.
type StatsHistoryQuery struct {
	// From and To bound the history (From inclusive, To exclusive).
	From, To time.Time
	// Step is the width of each point, a whole number of minutes.
	Step time.Duration
	// Queues limits the history to these queues; empty means every queue.
	Queues []string
}

// StatsHistoryReader is an optional Backend interface that reads the
// per-minute stats rollups clients write (Admin.StatsHistory).
type StatsHistoryReader interface {
	// StatsHistory returns one point per q.Step from q.From to q.To, oldest
	// first, steps where nothing finished included as zero points.
	StatsHistory(ctx context.Context, q StatsHistoryQuery) ([]StatsPoint, error)
}

// StatsHistory returns what finished per step from from to to, summed over
// every client and over queues (every queue when none are given), oldest
// first. Step is a whole number of minutes (default, when zero: one
// minute). It returns ErrInvalidArgs for a step that is not, or a range
// that is empty, and ErrUnsupported on a backend without
// StatsHistoryReader.
func (a *Admin) StatsHistory(ctx context.Context, from, to time.Time, step time.Duration, queues ...string) ([]StatsPoint, error) {
	r, ok := a.b.(StatsHistoryReader)
	if !ok {
		return nil, unsupported("StatsHistory", "StatsHistoryReader", a.b)
	}
	if step == 0 {
		step = time.Minute
	}
	if step < time.Minute || step%time.Minute != 0 {
		return nil, invalidJob("Step", "must be a whole number of minutes, got %s", step)
	}
	if !to.After(from) {
		return nil, invalidJob("To", "must be after From (%s)", from.Format(time.RFC3339))
	}
	return r.StatsHistory(ctx, StatsHistoryQuery{From: from, To: to, Step: step, Queues: queues})
}
