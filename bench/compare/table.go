package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/pgqueue/pgqueue/bench"
)

// summary is the median of one system's results for one table row over
// the rounds.
type summary struct {
	jobsPerSec, p50, p99 float64
	latency              bool
}

func summarize(rs []result) summary {
	var tput, p50, p99 []float64
	for _, r := range rs {
		tput = append(tput, r.JobsPerSec)
		p50 = append(p50, r.P50ms)
		p99 = append(p99, r.P99ms)
	}
	return summary{jobsPerSec: bench.Median(tput), p50: bench.Median(p50), p99: bench.Median(p99), latency: rs[0].Mode == "latency"}
}

func (s summary) cell() string {
	if s.latency {
		return fmt.Sprintf("p50 %.2f / p99 %.2f ms", s.p50, s.p99)
	}
	return fmt.Sprintf("%.0f jobs/s", s.jobsPerSec)
}

// ratio is pgqueue's figure divided by other's: for throughput above 1
// means pgqueue is faster, for latency below 1 means pgqueue picks jobs up
// sooner. Dividing the same way in both cases keeps the arithmetic obvious;
// the footer says which way is better.
func ratio(pgq, other summary) string {
	div := func(a, b float64) string {
		if b == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2f×", a/b)
	}
	if pgq.latency {
		return div(pgq.p50, other.p50) + " / " + div(pgq.p99, other.p99)
	}
	return div(pgq.jobsPerSec, other.jobsPerSec)
}

// writeTable prints one row per workload result kind with each system's
// median and pgqueue's ratio to each other system. systems[0] is pgqueue.
// A system with no successful run shows "no result".
func writeTable(w io.Writer, opts options, systems []bench.System, results []result) {
	var keys []string
	byKey := map[string]map[string][]result{}
	for _, r := range results {
		k := r.key()
		if byKey[k] == nil {
			keys = append(keys, k)
			byKey[k] = map[string][]result{}
		}
		byKey[k][r.System] = append(byKey[k][r.System], r)
	}
	if len(keys) == 0 {
		fmt.Fprintln(w, "no results")
		return
	}

	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	header := []string{"workload"}
	for _, s := range systems {
		header = append(header, s.Name)
	}
	for _, s := range systems[1:] {
		header = append(header, "ratio vs "+s.Name)
	}
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, k := range keys {
		row := []string{k}
		sums := make([]*summary, len(systems))
		for i, s := range systems {
			rs := byKey[k][s.Name]
			if len(rs) == 0 {
				row = append(row, "no result")
				continue
			}
			sum := summarize(rs)
			sums[i] = &sum
			row = append(row, sum.cell())
		}
		for i := range systems[1:] {
			if sums[0] == nil || sums[i+1] == nil {
				row = append(row, "-")
				continue
			}
			row = append(row, ratio(*sums[0], *sums[i+1]))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	_ = tw.Flush()

	what := "one round"
	if opts.rounds > 1 {
		what = fmt.Sprintf("median of %d rounds", opts.rounds)
	}
	fmt.Fprintf(w, "\n%s; ratio = pgqueue ÷ River. Throughput rows: above 1 means pgqueue is faster.\n"+
		"Latency rows (pickup at %.0f jobs/s: from the producer's Commit call, which includes its own WAL flush, or from Commit's return\n"+
		"(\"after commit\"), to the worker starting the job): the ratios of p50 and of p99; below 1 means pgqueue is quicker.\n",
		what, opts.rate)
}
