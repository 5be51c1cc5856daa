package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pgqueue/pgqueue/internal/rediscluster"
)

// clusterWorkloads are the workloads --cluster runs, in order.
var clusterWorkloads = []string{"enqueue", "batch", "drain", "continuous"}

// runCluster compares pgqueue on a cluster of three primaries with a
// cluster of one, both started here (same settings, same client code: a
// cluster client either way), on a workload whose jobs go round-robin
// over --queues queues, so that the three primaries share them. Each of
// --rounds rounds runs every workload on both clusters, taking turns at
// going first; the table shows medians.
//
// Beside the rate it measures each primary's CPU per job. On a machine
// whose cores the client and every primary share, the rate says what the
// client could drive; the busiest primary's CPU per job says how far the
// cluster itself would go before any one primary fills its core, which
// is what more primaries buy when each has a core of its own.
func runCluster(ctx context.Context, o options, stdout, stderr io.Writer) int {
	dir, err := os.MkdirTemp("", "pgqueue-compare-cluster-")
	if err != nil {
		fmt.Fprintln(stderr, "compare-asynq:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	prefix := "pgqcmp-" + randomSuffix()
	queues := balancedQueues(prefix, o.clusterQueue, 3)
	fmt.Fprintf(stdout, "pgqueue on Redis Cluster: 1 primary vs 3 primaries; %d queues; %d CPUs (GOMAXPROCS %d)\n",
		len(queues), runtime.NumCPU(), runtime.GOMAXPROCS(0))
	if o.primaryCPU > 0 {
		fmt.Fprintf(stdout, "each primary held to %.2f of a core (CPU cgroup quota)\n", o.primaryCPU)
	}
	var setups []*clusterSetup
	defer func() {
		for _, s := range setups {
			s.close()
		}
	}()
	for _, n := range []int{1, 3} {
		sub, err := os.MkdirTemp(dir, fmt.Sprintf("primaries-%d-", n))
		if err != nil {
			fmt.Fprintln(stderr, "compare-asynq:", err)
			return 1
		}
		s, err := startClusterSetup(ctx, sub, n, prefix, queues, o.primaryCPU)
		if err != nil {
			fmt.Fprintf(stderr, "compare-asynq: %d primaries: %v\n", n, err)
			return 1
		}
		setups = append(setups, s)
	}
	results := map[int]map[string][]result{1: {}, 3: {}}
	for round := range o.rounds {
		for _, s := range rotated(setups, round) {
			for _, w := range clusterWorkloads {
				rctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
				r, err := s.run(rctx, w, o)
				cancel()
				if err != nil {
					fmt.Fprintf(stderr, "compare-asynq: %d primaries: %s: %v\n", s.primaries, w, err)
					return 1
				}
				fmt.Fprintf(stdout, "%s   primaries' CPU/job %s\n", r, primaryCells(r.primaryCPU))
				results[s.primaries][w] = append(results[s.primaries][w], r)
			}
		}
	}
	fmt.Fprintln(stdout)
	writeClusterTable(stdout, results, o.rounds)
	return 0
}

// clusterSetup is one started cluster with the pgqueue system on it and a
// direct client to each primary for its CPU readings.
type clusterSetup struct {
	primaries int
	cluster   *rediscluster.Cluster
	rdb       *redis.ClusterClient
	nodes     []*redis.Client
	caps      []*cpuCap
	sys       system
}

// startClusterSetup starts a cluster of n primaries in dir, each held to
// share of a core when share > 0 (see cpuCap).
func startClusterSetup(ctx context.Context, dir string, n int, prefix string, queues []string, share float64) (*clusterSetup, error) {
	c, err := rediscluster.StartCluster(ctx, dir, n)
	if err != nil {
		return nil, err
	}
	s := &clusterSetup{primaries: n, cluster: c, rdb: redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})}
	for i, addr := range c.Addrs() {
		node := redis.NewClient(&redis.Options{Addr: addr})
		s.nodes = append(s.nodes, node)
		if share > 0 {
			cc, err := capServer(ctx, node, fmt.Sprintf("pgqueue-compare-%d-%d-%s", n, i, randomSuffix()), share)
			if err != nil {
				s.close()
				return nil, err
			}
			s.caps = append(s.caps, cc)
		}
	}
	name := fmt.Sprintf("pgqueue(%d primary)", n)
	if n > 1 {
		name = fmt.Sprintf("pgqueue(%d primaries)", n)
	}
	s.sys, err = pgqueueSystem(name, s.rdb, prefix, queues)
	if err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *clusterSetup) close() {
	for _, c := range s.nodes {
		_ = c.Close()
	}
	_ = s.rdb.Close()
	s.cluster.Stop()
	for _, c := range s.caps {
		c.remove()
	}
}

// primaryCPU reads every primary's CPU time so far; false if any read
// failed.
func (s *clusterSetup) primaryCPU(ctx context.Context) ([]time.Duration, bool) {
	out := make([]time.Duration, len(s.nodes))
	for i, c := range s.nodes {
		d, ok := serverCPU(ctx, c)
		if !ok {
			return nil, false
		}
		out[i] = d
	}
	return out, true
}

// run runs workload w once and sets the result's primaryCPU: each
// primary's CPU per job (none when a reading failed).
func (s *clusterSetup) run(ctx context.Context, w string, o options) (result, error) {
	before, okBefore := s.primaryCPU(ctx)
	r, err := runWorkload(ctx, w, s.sys, o, cpuMeter{})
	if err != nil {
		return r, err
	}
	after, okAfter := s.primaryCPU(ctx)
	if okBefore && okAfter && r.jobs > 0 {
		for i := range after {
			r.primaryCPU = append(r.primaryCPU, float64((after[i]-before[i]).Microseconds())/float64(r.jobs))
		}
	}
	return r, nil
}

// busiestCPU is the CPU per job of the primary that spent the most in r,
// -1 when unknown.
func busiestCPU(r result) float64 {
	if len(r.primaryCPU) == 0 {
		return -1
	}
	return slices.Max(r.primaryCPU)
}

// writeClusterTable prints, per workload, the median rate on each cluster
// and their ratio, then the busiest primary's median CPU per job on each
// and the capacity ratio it implies (one primary's figure over three's).
func writeClusterTable(w io.Writer, results map[int]map[string][]result, rounds int) {
	rate := func(r result) float64 { return r.perSec }
	unknown := func(r result) bool { return busiestCPU(r) < 0 }
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "workload\t1 primary\t3 primaries\t3 ÷ 1\tbusiest primary CPU/job: 1\t3\tcapacity 3 ÷ 1")
	for _, wl := range clusterWorkloads {
		one, three := results[1][wl], results[3][wl]
		if len(one) == 0 || len(three) == 0 {
			continue
		}
		r1, r3 := medianBy(one, rate), medianBy(three, rate)
		row := fmt.Sprintf("%s\t%.0f jobs/s\t%.0f jobs/s\t%.2f×", one[0].workload, r1, r3, r3/r1)
		if slices.ContainsFunc(one, unknown) || slices.ContainsFunc(three, unknown) {
			row += "\t?\t?\t-"
		} else {
			b1, b3 := medianBy(one, busiestCPU), medianBy(three, busiestCPU)
			row += fmt.Sprintf("\t%.1fµs\t%.1fµs\t%.2f×", b1, b3, b1/b3)
		}
		fmt.Fprintln(tw, row)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\nMedian of %d rounds (the two clusters take turns at going first). Rates are what this one client\n"+
		"process drove; the capacity ratio is how much further the busiest primary's CPU per job lets the\n"+
		"cluster go before one primary fills a core, which more primaries buy when each has a core of its own.\n", rounds)
}

// primaryCells lists each primary's µs of CPU per job, in slot order.
func primaryCells(us []float64) string {
	if len(us) == 0 {
		return "?"
	}
	cells := make([]string, len(us))
	for i, u := range us {
		cells[i] = fmt.Sprintf("%.1fµs", u)
	}
	return strings.Join(cells, " ")
}

// balancedQueues names n queues of prefix (q0, q1, ... with some numbers
// skipped) whose slots fall evenly into the slot ranges of a cluster of
// parts primaries, as rediscluster.StartCluster splits them: n/parts on
// each, the remainder on the first. Queue names drawn at random would
// land unevenly (with 12 queues, often 6 on one primary of three), and
// the comparison would measure the hash's luck rather than the cluster.
func balancedQueues(prefix string, n, parts int) []string {
	quota := make([]int, parts)
	for i := range quota {
		quota[i] = n / parts
		if i < n%parts {
			quota[i]++
		}
	}
	var out []string
	for i := 0; len(out) < n; i++ {
		name := fmt.Sprintf("q%d", i)
		part := rediscluster.KeySlot("{"+prefix+":"+name+"}") * parts / rediscluster.Slots
		if quota[part] > 0 {
			quota[part]--
			out = append(out, name)
		}
	}
	return out
}
