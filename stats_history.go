package pgqueue

// Per-minute stats history: the types the operator API returns and the
// optional backend interface that stores and reads the rollups.

import (
	"context"
	"slices"
	"strings"
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

// FailureRate returns the share of finished attempts that failed: Failed
// plus Dead over Completed plus Failed plus Dead, from 0 to 1; 0 when none
// finished. Cancelled runs and lost leases are left out: neither is the
// job's failure.
func (p StatsPoint) FailureRate() float64 {
	n := p.Completed + p.Failed + p.Dead
	if n == 0 {
		return 0
	}
	return float64(p.Failed+p.Dead) / float64(n)
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
// minute). Steps start at multiples of step (From.Truncate(step)), and a
// step holds the minutes that start in it and not before From's minute.
// It returns ErrInvalidArgs for a step that is not, a range that is empty,
// or one of more than MaxStatsHistoryPoints steps, ErrUnsupported on a
// backend without StatsHistoryReader, and the store's errors (ErrDatabase
// on Postgres before migration 9).
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
	start := from.Truncate(step)
	if n := (to.Sub(start) + step - 1) / step; n > MaxStatsHistoryPoints {
		return nil, invalidJob("Step", "%s from %s to %s makes %d points, more than the limit of %d; use a longer step or a shorter range",
			step, from.Format(time.RFC3339), to.Format(time.RFC3339), n, MaxStatsHistoryPoints)
	}
	return r.StatsHistory(ctx, StatsHistoryQuery{From: from, To: to, Step: step, Queues: queues})
}

// MaxStatsHistoryPoints caps the points one Admin.StatsHistory call
// returns (a week of minutes fits), so that a typo in a range never makes
// a store sum years of steps.
const MaxStatsHistoryPoints = 20000

// StatsRollup is what one client saw finish in one minute, for one queue
// and kind: the row a StatsRecorder stores, summed with the rows other
// clients write for the same minute, queue and kind.
type StatsRollup struct {
	// Minute is the start of the minute, in UTC, truncated to the minute.
	Minute time.Time
	// Queue and Kind are the jobs' queue and kind.
	Queue, Kind string
	// Completed, Failed, Dead, Cancelled and LeaseLost count the runs by
	// outcome, as StatsPoint does.
	Completed, Failed, Dead, Cancelled, LeaseLost int64
	// Run counts the runs' handler times, and Wait their wait times (from
	// the job's run-at to its claim), in the fixed StatsBucketBounds.
	Run, Wait StatsBuckets
}

// Add adds o's counts and buckets to r's (Minute, Queue and Kind stay
// r's).
func (r *StatsRollup) Add(o *StatsRollup) {
	r.Completed += o.Completed
	r.Failed += o.Failed
	r.Dead += o.Dead
	r.Cancelled += o.Cancelled
	r.LeaseLost += o.LeaseLost
	r.Run.Add(&o.Run)
	r.Wait.Add(&o.Wait)
}

// StatsRecorder is an optional Backend interface that stores the
// per-minute stats rollups clients write. A started Client whose backend
// has it counts what finishes in memory and calls RecordStats every
// Config.StatsFlushInterval and at Stop, never once per job; the
// maintenance loop calls PruneStats.
type StatsRecorder interface {
	// RecordStats adds rows to the stored rollups, in one write: counts
	// and buckets are added to what is stored for the same minute, queue
	// and kind. Rows are kept at least retention. On an error the client
	// keeps the rows and passes them again to its next call; a backend
	// that cannot write all or nothing says what a partial write counts.
	RecordStats(ctx context.Context, rows []StatsRollup, retention time.Duration) error
	// PruneStats deletes up to limit stored rollups of minutes before
	// before and returns how many it deleted; a store that expires them
	// by itself returns 0.
	PruneStats(ctx context.Context, before time.Time, limit int) (int, error)
}

// SumStatsHistory turns stored per-minute rollups into the points
// StatsHistory returns for q, for backends that read the rows and leave
// the summing to one place. It leaves out rows outside q's range (minutes
// before q.From's minute, or from q.To on) and queues, sums the others per
// step (Minute.Truncate(q.Step)), and returns one point per step from
// q.From.Truncate(q.Step) to q.To, empty steps as zero points.
func SumStatsHistory(q StatsHistoryQuery, rows []StatsRollup) []StatsPoint {
	steps := statsSteps(q)
	first := q.From.Truncate(time.Minute)
	for i := range rows {
		r := &rows[i]
		if r.Minute.Before(first) || !r.Minute.Before(q.To) {
			continue
		}
		if len(q.Queues) > 0 && !slices.Contains(q.Queues, r.Queue) {
			continue
		}
		if k := stepIndex(q, r.Minute); k >= 0 && k < len(steps) {
			steps[k].Add(r)
		}
	}
	return statsPoints(steps)
}

// statsSteps returns one empty sum per step of q, Minute its start.
func statsSteps(q StatsHistoryQuery) []StatsRollup {
	var steps []StatsRollup
	for at := q.From.Truncate(q.Step); at.Before(q.To); at = at.Add(q.Step) {
		steps = append(steps, StatsRollup{Minute: at.UTC()})
	}
	return steps
}

// stepIndex returns the index of the step of q that holds t.
func stepIndex(q StatsHistoryQuery, t time.Time) int {
	return int(t.Truncate(q.Step).Sub(q.From.Truncate(q.Step)) / q.Step)
}

// statsPoints turns per-step sums into points, percentiles read from the
// summed buckets.
func statsPoints(steps []StatsRollup) []StatsPoint {
	out := make([]StatsPoint, len(steps))
	for i := range steps {
		s := &steps[i]
		out[i] = StatsPoint{At: s.Minute, Completed: s.Completed, Failed: s.Failed, Dead: s.Dead, Cancelled: s.Cancelled, LeaseLost: s.LeaseLost,
			RunP50: s.Run.Percentile(0.5), RunP95: s.Run.Percentile(0.95), WaitP50: s.Wait.Percentile(0.5), WaitP95: s.Wait.Percentile(0.95)}
	}
	return out
}

// sortStatsRows sorts rows oldest first, then by queue and kind: the order
// stores write them in, so that clients writing the same minute lock its
// rows in one order.
func sortStatsRows(rows []StatsRollup) {
	slices.SortFunc(rows, func(a, b StatsRollup) int {
		if c := a.Minute.Compare(b.Minute); c != 0 {
			return c
		}
		if a.Queue != b.Queue {
			return strings.Compare(a.Queue, b.Queue)
		}
		return strings.Compare(a.Kind, b.Kind)
	})
}
