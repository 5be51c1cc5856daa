package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pgqueue/pgqueue/internal/rediscluster"
)

// runCluster compares pgqueue on a cluster of three primaries with a
// cluster of one, both started here (same settings, same client code: a
// cluster client either way), on a workload whose jobs go round-robin
// over --queues queues, so that the three primaries share them.
func runCluster(ctx context.Context, o options, stdout, stderr io.Writer) int {
	dir, err := os.MkdirTemp("", "pgqueue-compare-cluster-")
	if err != nil {
		fmt.Fprintln(stderr, "compare-asynq:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	queues := make([]string, o.clusterQueue)
	for i := range queues {
		queues[i] = fmt.Sprintf("q%d", i)
	}
	fmt.Fprintf(stdout, "pgqueue on Redis Cluster: 1 primary vs 3 primaries; %d queues; %d CPUs (GOMAXPROCS %d)\n",
		len(queues), runtime.NumCPU(), runtime.GOMAXPROCS(0))
	var results [][]result
	for _, n := range []int{1, 3} {
		sub, err := os.MkdirTemp(dir, fmt.Sprintf("primaries-%d-", n))
		if err != nil {
			fmt.Fprintln(stderr, "compare-asynq:", err)
			return 1
		}
		c, err := rediscluster.StartCluster(ctx, sub, n)
		if err != nil {
			fmt.Fprintln(stderr, "compare-asynq:", err)
			return 1
		}
		rs, err := clusterRound(ctx, o, c, queues, stdout)
		c.Stop()
		if err != nil {
			fmt.Fprintf(stderr, "compare-asynq: %d primaries: %v\n", n, err)
			return 1
		}
		results = append(results, rs)
	}
	fmt.Fprintln(stdout)
	tw := tabwriter.NewWriter(stdout, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "workload\t1 primary\t3 primaries\t3 ÷ 1")
	for i := range results[0] {
		a, b := results[0][i], results[1][i]
		fmt.Fprintf(tw, "%s\t%.0f jobs/s\t%.0f jobs/s\t%.2f×\n", a.workload, a.perSec, b.perSec, b.perSec/a.perSec)
	}
	_ = tw.Flush()
	return 0
}

// clusterRound runs the multi-queue workloads on one cluster.
func clusterRound(ctx context.Context, o options, c *rediscluster.Cluster, queues []string, out io.Writer) ([]result, error) {
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	defer rdb.Close()
	name := fmt.Sprintf("pgqueue(%d primary)", len(c.Nodes))
	if len(c.Nodes) > 1 {
		name = fmt.Sprintf("pgqueue(%d primaries)", len(c.Nodes))
	}
	sys, err := pgqueueSystem(name, rdb, "pgqcmp-"+randomSuffix(), queues)
	if err != nil {
		return nil, err
	}
	var rs []result
	for _, w := range []string{"enqueue", "batch", "drain", "continuous"} {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		r, err := runWorkload(rctx, w, sys, o, cpuMeter{})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", w, err)
		}
		fmt.Fprintln(out, r)
		rs = append(rs, r)
	}
	return rs, nil
}
