// Package bench holds pgqueue's throughput and latency workloads, written
// against a small System description so that the same code measures
// pgqueue and, in bench/compare, other queues on the same database in one
// run. The pgqueue CLI runs them as `pgqueue bench MODE`.
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// System is one queue implementation under test, set up on its own empty
// schema. Jobs are no-ops identified by a sequence number.
type System struct {
	// Name labels the results, e.g. "pgqueue" or "river(bench settings)".
	Name string
	// Begin opens a transaction for InsertTx.
	Begin func(ctx context.Context) (pgx.Tx, error)
	// InsertTx enqueues one job inside tx.
	InsertTx func(ctx context.Context, tx pgx.Tx, seq int64) error
	// InsertMany enqueues the jobs with the given sequence numbers with the
	// system's multi-row path.
	InsertMany func(ctx context.Context, seqs []int64) error
	// InsertCopy enqueues with the system's COPY path; nil if it has none.
	InsertCopy func(ctx context.Context, seqs []int64) error
	// Start starts workers that call worked(seq) as each job begins, and
	// returns a function that stops them.
	Start func(ctx context.Context, worked func(seq int64)) (stop func(context.Context) error, err error)
	// Reset empties the system's tables between runs.
	Reset func(ctx context.Context) error
	// TableStats reports the hot table's dead and live rows and its size.
	// The soak needs it; the other modes do not use it.
	TableStats func(ctx context.Context) (TableStats, error)
	// HoldHorizon opens a transaction that pins the vacuum horizon until
	// released. Only the soak uses it; nil means the soak never holds it.
	HoldHorizon func(ctx context.Context) (release func(), err error)
}

// Result is one measurement.
type Result struct {
	// Mode names the workload: "burndown", "continuous", "latency",
	// "insert" or "soak".
	Mode string `json:"mode"`
	// System is the measured System's Name.
	System string `json:"system"`
	// Variant tells apart the results of one mode, e.g. the rate of a
	// latency run ("500/s") or the insert path ("tx×8", "many", "copy").
	Variant string `json:"variant,omitempty"`
	// Jobs is how many jobs the run enqueued (latency, insert) or worked
	// (burndown, continuous); 0 for soak.
	Jobs int64 `json:"jobs"`
	// Seconds is the run's length in seconds: measured, except for latency
	// and soak, where it is the requested duration.
	Seconds float64 `json:"seconds"`
	// JobsPerSec is Jobs / Seconds, except for soak, where it is the mean
	// rate of the samples of the last minute.
	JobsPerSec float64 `json:"jobs_per_sec"`
	// P50ms is the median pickup latency in ms (latency only; 0
	// otherwise). The P and MaxMs fields measure pickup from the moment
	// the producer calls Commit, so they include the producer's own commit
	// (its WAL flush): no worker can see a job sooner. (bench/compare adds
	// a row whose Variant ends in "after commit" and whose P50ms and P99ms
	// are AfterCommitP50ms and AfterCommitP99ms.)
	P50ms float64 `json:"p50_ms,omitempty"`
	// P90ms is the 90th-percentile pickup latency in ms (latency only).
	P90ms float64 `json:"p90_ms,omitempty"`
	// P99ms is the 99th-percentile pickup latency in ms (latency only).
	P99ms float64 `json:"p99_ms,omitempty"`
	// MaxMs is the slowest pickup in ms (latency only).
	MaxMs float64 `json:"max_ms,omitempty"`
	// AfterCommitP50ms is the median pickup latency in ms measured from
	// the return of the producer's Commit instead of the call (latency
	// only).
	AfterCommitP50ms float64 `json:"after_commit_p50_ms,omitempty"`
	// AfterCommitP99ms is the 99th-percentile pickup latency in ms
	// measured from Commit's return (latency only).
	AfterCommitP99ms float64 `json:"after_commit_p99_ms,omitempty"`
	// CommitP50ms is the median duration in ms of the producer's Commit
	// (latency only).
	CommitP50ms float64 `json:"commit_p50_ms,omitempty"`
}

// String formats the result as one human-readable line.
func (r Result) String() string {
	s := fmt.Sprintf("%-10s %-28s %9d jobs in %7.2fs = %9.0f jobs/s", r.Mode+labelSuffix(r.Variant), r.System, r.Jobs, r.Seconds, r.JobsPerSec)
	if r.P50ms > 0 || r.P99ms > 0 {
		s += fmt.Sprintf("   pickup p50 %.2fms", r.P50ms)
		if r.P90ms > 0 {
			s += fmt.Sprintf(" p90 %.2fms", r.P90ms)
		}
		s += fmt.Sprintf(" p99 %.2fms", r.P99ms)
		if r.MaxMs > 0 {
			s += fmt.Sprintf(" max %.2fms", r.MaxMs)
		}
	}
	if r.CommitP50ms > 0 {
		s += fmt.Sprintf(" (producer's commit p50 %.2fms; pickup from its return p50 %.2fms p99 %.2fms)", r.CommitP50ms, r.AfterCommitP50ms, r.AfterCommitP99ms)
	}
	return s
}

// Median is the middle value of xs, or the mean of the two middle ones
// when len(xs) is even; 0 for no values. xs is not reordered. The
// comparison commands report the median of their rounds with it.
func Median(xs []float64) float64 {
	n := len(xs)
	if n == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func labelSuffix(v string) string {
	if v == "" {
		return ""
	}
	return "/" + v
}

// WriteJSON writes each result as one JSON object per line.
func WriteJSON(w io.Writer, results []Result) error {
	enc := json.NewEncoder(w)
	for _, r := range results {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return nil
}

func seqs(from, n int64) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = from + int64(i)
	}
	return out
}

// percentiles fills the latency fields of r from samples.
func percentiles(r *Result, samples []time.Duration) {
	if len(samples) == 0 {
		return
	}
	at := quantiles(samples)
	r.P50ms, r.P90ms, r.P99ms, r.MaxMs = at(0.50), at(0.90), at(0.99), at(1)
}

// quantiles sorts samples and returns a function giving the p-quantile
// in milliseconds (nearest rank); samples must not be empty.
func quantiles(samples []time.Duration) func(p float64) float64 {
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	return func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(samples)))) - 1
		i = max(0, min(i, len(samples)-1))
		return float64(samples[i]) / float64(time.Millisecond)
	}
}

// stopTimeout bounds how long a System's stop may take, so that a stuck
// client cannot hold up the rest of a run.
const stopTimeout = 30 * time.Second

// BoundedStop wraps a client's stop function for System.Start: it gives
// the stop at most 30 seconds, whatever context the caller passes.
func BoundedStop(stop func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, stopTimeout)
		defer cancel()
		return stop(ctx)
	}
}

// TruncateReset returns a System.Reset that empties the given tables (of
// schema) with one TRUNCATE; the names are quoted with pgx's identifier
// sanitizer.
func TruncateReset(pool *pgxpool.Pool, schema string, tables ...string) func(context.Context) error {
	quoted := make([]string, len(tables))
	for i, t := range tables {
		quoted[i] = pgx.Identifier{schema, t}.Sanitize()
	}
	stmt := "TRUNCATE " + strings.Join(quoted, ", ")
	return func(ctx context.Context) error {
		_, err := pool.Exec(ctx, stmt)
		return err
	}
}
