// Command compare-asynq runs the same Redis workloads on pgqueue's Redis
// backend (redisqueue, with pgqueue's defaults) and on asynq (with its
// defaults, and tuned), one after the other on the same Redis in one run,
// and prints each result and pgqueue's ratio to each asynq variant.
//
// With --cluster it instead compares pgqueue on a Redis Cluster of three
// primaries with a cluster of one, on a workload spread over many queues;
// it starts both clusters itself (redis-server must be on PATH).
//
// It is a module of its own so that asynq never becomes a dependency of
// pgqueue itself.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pgqueue/pgqueue/bench"
)

type options struct {
	redisURL     string
	jobs         int64
	enqueueJobs  int64
	duration     time.Duration
	rate         float64
	goroutines   int
	only         string
	rounds       int
	cluster      bool
	clusterQueue int
	primaryCPU   float64
}

var workloadNames = []string{"enqueue", "batch", "drain", "continuous", "latency"}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("compare-asynq", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.redisURL, "redis-url", "", "Redis URL (default $REDIS_URL, else redis://127.0.0.1:6379/0)")
	fs.Int64Var(&o.jobs, "jobs", 100000, "jobs to drain")
	fs.Int64Var(&o.enqueueJobs, "enqueue-jobs", 20000, "jobs for the enqueue workloads")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long continuous and latency run")
	fs.Float64Var(&o.rate, "rate", 200, "jobs per second in latency")
	fs.IntVar(&o.goroutines, "goroutines", 8, "concurrent callers in the one-per-call enqueue workload")
	fs.IntVar(&o.rounds, "rounds", 1, "times each system runs each workload, in a rotated order each round; the table shows medians")
	fs.StringVar(&o.only, "only", "", "comma-separated workloads (default all: "+strings.Join(workloadNames, ",")+")")
	fs.BoolVar(&o.cluster, "cluster", false, "compare pgqueue on 3 cluster primaries with 1 instead (starts both clusters)")
	fs.IntVar(&o.clusterQueue, "queues", 12, "queues the --cluster workload spreads its jobs over")
	fs.Float64Var(&o.primaryCPU, "primary-cpu", 0, "with --cluster, hold each primary to this share of one core (a CPU cgroup; needs root), so that Redis is the limit; 0: no cap")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if o.jobs <= 0 || o.enqueueJobs <= 0 || o.duration <= 0 || o.rate <= 0 || o.goroutines <= 0 || o.clusterQueue <= 0 || o.rounds <= 0 {
		return o, errors.New("all sizes, durations and counts must be positive")
	}
	if o.primaryCPU < 0 || o.primaryCPU > 64 || (o.primaryCPU > 0 && !o.cluster) {
		return o, errors.New("--primary-cpu is a share of one core (0 < share ≤ 64) and needs --cluster")
	}
	for _, w := range o.selected() {
		if !slices.Contains(workloadNames, w) {
			return o, fmt.Errorf("unknown workload %q in --only (have %s)", w, strings.Join(workloadNames, ", "))
		}
	}
	if o.redisURL == "" {
		o.redisURL = os.Getenv("REDIS_URL")
	}
	if o.redisURL == "" {
		o.redisURL = "redis://127.0.0.1:6379/0"
	}
	return o, nil
}

func (o options) selected() []string {
	if o.only == "" {
		return workloadNames
	}
	var out []string
	for w := range strings.SplitSeq(o.only, ",") {
		if w = strings.TrimSpace(w); w != "" {
			out = append(out, w)
		}
	}
	return out
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run is main without os.Exit, so that the deferred cleanups (deleting
// the run's keys, stopping clusters) happen.
func run(args []string, stdout, stderr io.Writer) int {
	opts, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "compare-asynq:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if opts.cluster {
		return runCluster(ctx, opts, stdout, stderr)
	}

	ropts, err := redis.ParseURL(opts.redisURL)
	if err != nil {
		fmt.Fprintln(stderr, "compare-asynq: bad Redis URL:", err)
		return 2
	}
	ropts.PoolSize = 100 // both systems share it; asynq's workers each hold a connection while they wait
	rdb := redis.NewClient(ropts)
	defer rdb.Close()
	version, err := serverVersion(ctx, rdb)
	if err != nil {
		fmt.Fprintln(stderr, "compare-asynq: cannot reach Redis:", err)
		return 1
	}
	suffix := randomSuffix()
	prefix, queue := "pgqcmp-"+suffix, "cmp-"+suffix
	pgq, err := pgqueueSystem("pgqueue", rdb, prefix, []string{"default"})
	if err != nil {
		fmt.Fprintln(stderr, "compare-asynq:", err)
		return 1
	}
	systems := []system{pgq, asynqSystem(asynqDefaults, rdb, queue), asynqSystem(asynqTuned, rdb, queue)}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, s := range systems {
			if err := s.drop(cctx); err != nil {
				fmt.Fprintf(stderr, "compare-asynq: delete the keys of %s: %v\n", s.name, err)
			}
		}
	}()
	fmt.Fprintf(stdout, "Redis %s at %s; pgqueue prefix %s, asynq queue %s\n", version, ropts.Addr, prefix, queue)

	meter := cpuMeter{rdb: rdb}
	var results []result
	failed := false
	for _, w := range opts.selected() {
		fmt.Fprintf(stdout, "\n== %s\n", w)
		if err := warmUp(ctx, w, systems, opts, meter); err != nil {
			fmt.Fprintf(stdout, "%-16s warm-up FAILED: %v\n", w, err)
			failed = true
			continue
		}
		for round := range opts.rounds {
			for _, sys := range rotated(systems, round) {
				rctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
				r, err := runWorkload(rctx, w, sys, opts, meter)
				cancel()
				if ctx.Err() != nil {
					fmt.Fprintln(stderr, "compare-asynq: interrupted")
					return 130
				}
				if err != nil {
					fmt.Fprintf(stdout, "%-16s %-18s FAILED: %v\n", w, sys.name, err)
					failed = true
					continue
				}
				fmt.Fprintln(stdout, r)
				results = append(results, r)
			}
		}
	}
	fmt.Fprintln(stdout)
	writeTable(stdout, systems, results, opts)
	if failed {
		return 1
	}
	return 0
}

// rotated is systems starting at the round's turn: round r runs
// systems[r mod n] first. Whoever runs first meets a colder process (no
// pooled connections, no loaded script) and a Redis without the others'
// keys; taking turns spreads that, and the machine's drift, over all.
func rotated[T any](systems []T, round int) []T {
	k := round % len(systems)
	return append(slices.Clone(systems[k:]), systems[:k]...)
}

// warmUp runs the enqueue workloads once on every system, with a tenth of
// the jobs, before the measured rounds, and reports nothing. Their runs
// last seconds, and the first of them in a process is slower for
// whichever system runs it: its connections are dialled, its scripts
// loaded, its code paths and the machine's caches cold. The other
// workloads start workers and run for longer, and are not warmed.
func warmUp(ctx context.Context, w string, systems []system, o options, m cpuMeter) error {
	if w != "enqueue" && w != "batch" {
		return nil
	}
	o.enqueueJobs = max(o.enqueueJobs/10, 1)
	for _, sys := range systems {
		if _, err := runWorkload(ctx, w, sys, o, m); err != nil {
			return fmt.Errorf("%s: %w", sys.name, err)
		}
	}
	return nil
}

func runWorkload(ctx context.Context, w string, sys system, o options, m cpuMeter) (result, error) {
	switch w {
	case "enqueue":
		return enqueueEach(ctx, sys, o.enqueueJobs, o.goroutines, m)
	case "batch":
		return enqueueBatches(ctx, sys, o.enqueueJobs, 100)
	case "drain":
		return drain(ctx, sys, o.jobs)
	case "continuous":
		return continuous(ctx, sys, o.duration)
	case "latency":
		return latency(ctx, sys, o.rate, o.duration)
	}
	return result{}, fmt.Errorf("unknown workload %q", w)
}

func serverVersion(ctx context.Context, rdb redis.UniversalClient) (string, error) {
	info, err := rdb.Info(ctx, "server").Result()
	if err != nil {
		return "", err
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			return v, nil
		}
	}
	return "?", nil
}

func randomSuffix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// writeTable prints one row per workload: each system's figure (the
// median of its rounds) and pgqueue's ratio to each other system, then the
// CPU per job of the rows that measured it. systems[0] is pgqueue.
func writeTable(w io.Writer, systems []system, results []result, o options) {
	rounds := map[string]map[string][]result{}
	var keys []string
	for _, r := range results {
		if rounds[r.workload] == nil {
			rounds[r.workload] = map[string][]result{}
			keys = append(keys, r.workload)
		}
		rounds[r.workload][r.system] = append(rounds[r.workload][r.system], r)
	}
	byKey := map[string]map[string]result{}
	for k, bySys := range rounds {
		byKey[k] = map[string]result{}
		for name, rs := range bySys {
			byKey[k][name] = medianOf(rs)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	header := []string{"workload"}
	for _, s := range systems {
		header = append(header, s.name)
	}
	for _, s := range systems[1:] {
		header = append(header, "pgqueue ÷ "+s.name)
	}
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, k := range keys {
		row := []string{k}
		for _, s := range systems {
			r, ok := byKey[k][s.name]
			row = append(row, cell(r, ok))
		}
		base, okBase := byKey[k][systems[0].name]
		for _, s := range systems[1:] {
			r, ok := byKey[k][s.name]
			row = append(row, ratio(base, okBase, r, ok))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	_ = tw.Flush()
	for _, k := range keys {
		for _, s := range systems {
			if r, ok := byKey[k][s.name]; ok && r.cpu {
				fmt.Fprintf(w, "%s CPU per job, %s: Redis %s + client %.1fµs\n", k, s.name, cpuCell(r.redisCPU), r.clientCPU)
			}
		}
	}
	what := "One run"
	if o.rounds > 1 {
		what = fmt.Sprintf("One run, median of %d rounds (each round in a rotated order)", o.rounds)
	}
	fmt.Fprintf(w, "\n%s. Throughput rows: jobs/s, a ratio above 1 means pgqueue is faster.\n"+
		"Latency row (pickup at %.0f jobs/s, from the enqueue call to the worker starting the job): p50 / p99 in ms,\n"+
		"and the ratio of each; below 1 means pgqueue picks jobs up sooner.\n", what, o.rate)
}

// medianBy is the median of one figure, f, over rs.
func medianBy(rs []result, f func(result) float64) float64 {
	xs := make([]float64, len(rs))
	for i, r := range rs {
		xs[i] = f(r)
	}
	return bench.Median(xs)
}

// medianOf is one result whose figures are the medians of rs's (the
// rounds of one system on one workload); a note, if any, is kept.
func medianOf(rs []result) result {
	m := rs[0]
	pick := func(f func(result) float64) float64 { return medianBy(rs, f) }
	m.perSec = pick(func(r result) float64 { return r.perSec })
	m.p50 = pick(func(r result) float64 { return r.p50 })
	m.p99 = pick(func(r result) float64 { return r.p99 })
	m.redisCPU = pick(func(r result) float64 { return r.redisCPU })
	m.clientCPU = pick(func(r result) float64 { return r.clientCPU })
	return m
}

func cell(r result, ok bool) string {
	switch {
	case !ok:
		return "no result"
	case r.note != "":
		return r.note
	case r.latency:
		return fmt.Sprintf("p50 %.2f / p99 %.2f ms", r.p50, r.p99)
	}
	return fmt.Sprintf("%.0f jobs/s", r.perSec)
}

func ratio(a result, okA bool, b result, okB bool) string {
	if !okA || !okB || a.note != "" || b.note != "" {
		return "-"
	}
	div := func(x, y float64) string {
		if y == 0 {
			return "n/a"
		}
		if x/y < 0.1 {
			return fmt.Sprintf("%.4f×", x/y)
		}
		return fmt.Sprintf("%.2f×", x/y)
	}
	if a.latency {
		return div(a.p50, b.p50) + " / " + div(a.p99, b.p99)
	}
	return div(a.perSec, b.perSec)
}
