package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/pgqueue/pgqueue/bench"
)

// result is one measurement of one system in one round.
type result struct {
	bench.Result
	Round int `json:"round"`
}

// key names the row of the table a result belongs to, e.g. "burndown" or
// "insert/copy".
func (r result) key() string {
	if r.Variant == "" {
		return r.Mode
	}
	return r.Mode + "/" + r.Variant
}

// workload runs one of the bench workloads on sys; Insert yields several
// results, the others one.
type workload func(ctx context.Context, sys bench.System, out io.Writer) ([]bench.Result, error)

func workloadFor(name string, opts options) workload {
	one := func(r bench.Result, err error) ([]bench.Result, error) {
		if err != nil {
			return nil, err
		}
		return []bench.Result{r}, nil
	}
	switch name {
	case "burndown":
		return func(ctx context.Context, sys bench.System, _ io.Writer) ([]bench.Result, error) {
			return one(bench.Burndown(ctx, sys, opts.jobs))
		}
	case "continuous":
		return func(ctx context.Context, sys bench.System, out io.Writer) ([]bench.Result, error) {
			return one(bench.Continuous(ctx, sys, opts.duration, opts.producers, opts.batch, 2*time.Second,
				func(el time.Duration, perSec float64) {
					fmt.Fprintf(out, "  %-28s %5.0fs %9.0f jobs/s\n", sys.Name, el.Seconds(), perSec)
				}))
		}
	case "latency":
		return func(ctx context.Context, sys bench.System, _ io.Writer) ([]bench.Result, error) {
			r, err := bench.Latency(ctx, sys, opts.rate, opts.duration)
			if err != nil {
				return nil, err
			}
			return []bench.Result{r, afterCommit(r)}, nil
		}
	case "insert":
		return func(ctx context.Context, sys bench.System, _ io.Writer) ([]bench.Result, error) {
			return bench.Insert(ctx, sys, opts.txJobs, opts.bulkJobs, opts.goroutines)
		}
	}
	panic("unknown workload " + name) // parseFlags rejects unknown names
}

// afterCommit is a latency result's second table row: pickup measured
// from the producer's Commit returning rather than from its call.
func afterCommit(r bench.Result) bench.Result {
	a := bench.Result{Mode: r.Mode, System: r.System, Variant: r.Variant + " after commit", Jobs: r.Jobs, Seconds: r.Seconds, JobsPerSec: r.JobsPerSec}
	a.P50ms, a.P99ms = r.AfterCommitP50ms, r.AfterCommitP99ms
	return a
}

// runAll runs each selected workload on every system in turn, round after
// round, so that drift in the machine or the database (autovacuum, cache,
// other load) spreads over all systems instead of favouring whichever ran
// first. A failed run is reported and the comparison goes on; an interrupt
// ends it.
func runAll(ctx context.Context, opts options, systems []bench.System, out io.Writer) (results []result, failed bool) {
	for _, name := range opts.selected() {
		w := workloadFor(name, opts)
		fmt.Fprintf(out, "\n== %s\n", name)
		for round := 1; round <= opts.rounds; round++ {
			for _, sys := range systems {
				runCtx, cancel := context.WithTimeout(ctx, opts.timeout)
				rs, err := w(runCtx, sys, out)
				cancel()
				for _, r := range rs {
					fmt.Fprintln(out, r)
					results = append(results, result{Result: r, Round: round})
				}
				if ctx.Err() != nil {
					return results, true
				}
				if err != nil {
					fmt.Fprintf(out, "%-10s %-28s FAILED: %v\n", name, sys.Name, err)
					failed = true
				}
			}
		}
	}
	return results, failed
}

// writeJSON prints each result as one JSON object per line.
func writeJSON(w io.Writer, results []result) error {
	enc := json.NewEncoder(w)
	for _, r := range results {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return nil
}
