package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/bench"
)

func newBenchCmd(g *globals) *cobra.Command {
	var asJSON bool
	var cpuProfile string
	var notifyDebounce time.Duration
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure throughput and pickup latency on a fresh schema",
		Long: "bench runs a workload against --database-url on a fresh schema it creates, migrates and drops, " +
			"with pgqueue's default client configuration. Results are human-readable lines, and with --json also " +
			"one JSON object per result as the last lines. With --output json, stdout is one JSON array of the results " +
			"and the progress lines go to stderr.",
		Args: noSubcommand,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.PersistentFlags().BoolVar(&asJSON, "json", false, "also print each result as a JSON object")
	cmd.PersistentFlags().Int32Var(&g.maxConns, "max-conns", 12, "connection pool size (enough for the insert workload's goroutines)")
	cmd.PersistentFlags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the workload (the client side) to this file")
	cmd.PersistentFlags().DurationVar(&notifyDebounce, "notify-debounce", 0,
		"PostgresOptions.NotifyDebounce for the producers (0: the default, 2ms; negative: a NOTIFY in every enqueue transaction)")

	run := func(fn func(ctx context.Context, sys bench.System, w io.Writer, out func(bench.Result)) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			s, err := g.connect(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer s.close()
			ctx := cmd.Context()
			var b [4]byte
			_, _ = rand.Read(b[:])
			schema := "pgqueue_bench_" + hex.EncodeToString(b[:])
			if err := pgqueue.Migrate(ctx, s.pool, &pgqueue.MigrateOptions{Schema: schema}); err != nil {
				return err
			}
			defer func() {
				dropCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				_, _ = s.pool.Exec(dropCtx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
			}()
			sys, err := bench.Pgqueue("pgqueue", s.pool, pgqueue.PostgresOptions{Schema: schema, NotifyDebounce: notifyDebounce}, pgqueue.Config{})
			if err != nil {
				return err
			}
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			progress := cmd.OutOrStdout()
			if g.json() {
				progress = cmd.ErrOrStderr()
			}
			results := []bench.Result{}
			err = fn(ctx, sys, progress, func(r bench.Result) {
				results = append(results, r)
				fmt.Fprintln(progress, r)
			})
			if err != nil {
				return err
			}
			if g.json() {
				return printJSON(cmd.OutOrStdout(), results)
			}
			if asJSON {
				return bench.WriteJSON(cmd.OutOrStdout(), results)
			}
			return nil
		}
	}

	var jobs int64
	burndown := &cobra.Command{
		Use:   "burndown",
		Short: "Insert --jobs no-op jobs, then time draining them",
		Args:  noArgs,
		PreRunE: func(*cobra.Command, []string) error {
			if jobs <= 0 {
				return usageErr("--jobs must be positive")
			}
			return nil
		},
		RunE: run(func(ctx context.Context, sys bench.System, w io.Writer, out func(bench.Result)) error {
			r, err := bench.Burndown(ctx, sys, jobs)
			if err == nil {
				out(r)
			}
			return err
		}),
	}
	burndown.Flags().Int64Var(&jobs, "jobs", 200000, "jobs to insert and drain")

	var duration time.Duration
	var producers, batch int
	continuous := &cobra.Command{
		Use:   "continuous",
		Short: "Producers and workers at once; jobs/s every 2 s and overall",
		Args:  noArgs,
		PreRunE: func(*cobra.Command, []string) error {
			if duration <= 0 || producers <= 0 || batch <= 0 {
				return usageErr("--duration, --producers and --batch must be positive")
			}
			return nil
		},
		RunE: run(func(ctx context.Context, sys bench.System, w io.Writer, out func(bench.Result)) error {
			r, err := bench.Continuous(ctx, sys, duration, producers, batch, 2*time.Second, func(el time.Duration, perSec float64) {
				fmt.Fprintf(w, "  %5.0fs  %9.0f jobs/s\n", el.Seconds(), perSec)
			})
			if err == nil {
				out(r)
			}
			return err
		}),
	}
	continuous.Flags().DurationVar(&duration, "duration", 30*time.Second, "how long to run")
	continuous.Flags().IntVar(&producers, "producers", 2, "concurrent producers")
	continuous.Flags().IntVar(&batch, "batch", 100, "jobs per insert")

	var rate float64
	var latDur time.Duration
	latency := &cobra.Command{
		Use:   "latency",
		Short: "One job per transaction at --rate; pickup latency p50/p90/p99/max",
		Args:  noArgs,
		PreRunE: func(*cobra.Command, []string) error {
			if rate <= 0 || latDur <= 0 {
				return usageErr("--rate and --duration must be positive")
			}
			return nil
		},
		RunE: run(func(ctx context.Context, sys bench.System, w io.Writer, out func(bench.Result)) error {
			r, err := bench.Latency(ctx, sys, rate, latDur)
			if err == nil {
				out(r)
			}
			return err
		}),
	}
	latency.Flags().Float64Var(&rate, "rate", 200, "jobs per second")
	latency.Flags().DurationVar(&latDur, "duration", 10*time.Second, "how long to enqueue")

	var txJobs, bulkJobs int64
	var goroutines int
	insert := &cobra.Command{
		Use:   "insert",
		Short: "Enqueue paths: one per transaction, EnqueueMany, and COPY",
		Args:  noArgs,
		PreRunE: func(*cobra.Command, []string) error {
			if txJobs <= 0 || bulkJobs <= 0 || goroutines <= 0 {
				return usageErr("--tx-jobs, --jobs and --goroutines must be positive")
			}
			return nil
		},
		RunE: run(func(ctx context.Context, sys bench.System, w io.Writer, out func(bench.Result)) error {
			rs, err := bench.Insert(ctx, sys, txJobs, bulkJobs, goroutines)
			for _, r := range rs {
				out(r)
			}
			return err
		}),
	}
	insert.Flags().Int64Var(&txJobs, "tx-jobs", 20000, "jobs for the one-per-transaction path")
	insert.Flags().Int64Var(&bulkJobs, "jobs", 100000, "jobs for the bulk paths")
	insert.Flags().IntVar(&goroutines, "goroutines", 8, "concurrent producers for the one-per-transaction path")

	var soakCfg bench.SoakConfig
	var soakOut string
	soak := &cobra.Command{
		Use:   "soak",
		Short: "Sustained enqueue and work; throughput, pickup p99 and dead rows over time (CSV)",
		Long: "soak runs producers and workers for --duration, sampling every --interval, and holds a transaction open " +
			"(pinning the vacuum horizon, as a long analytics query would) from --hold-from for --hold-for. " +
			"It writes the samples to --out/soak.csv and reports how much throughput the last minute lost against the first.",
		Args: noArgs,
		PreRunE: func(*cobra.Command, []string) error {
			if soakCfg.Duration <= 0 || soakCfg.Interval <= 0 {
				return usageErr("--duration and --interval must be positive")
			}
			return nil
		},
		RunE: run(func(ctx context.Context, sys bench.System, w io.Writer, out func(bench.Result)) error {
			if err := os.MkdirAll(soakOut, 0o755); err != nil {
				return err
			}
			f, err := os.Create(filepath.Join(soakOut, "soak.csv"))
			if err != nil {
				return err
			}
			defer f.Close()
			soakCfg.Producers, soakCfg.Batch = 2, 100
			soakCfg.Stats = sys.TableStats
			soakCfg.HoldHorizon = sys.HoldHorizon
			samples, err := bench.Soak(ctx, sys, soakCfg, f, func(s bench.SoakSample) {
				fmt.Fprintf(w, "  %6.0fs %9.0f jobs/s  pickup p99 %7.2fms  dead %8d  live %7d  %6.1f MB%s\n",
					s.Elapsed.Seconds(), s.JobsPerSec, s.P99ms, s.Table.Dead, s.Table.Live, float64(s.Table.Bytes)/(1<<20), map[bool]string{true: "  [horizon held]"}[s.Holding])
			})
			if err != nil {
				return err
			}
			first, lastMin := bench.SoakWindows(samples, time.Minute)
			fmt.Fprintf(w, "soak: first minute %.0f jobs/s, last minute %.0f jobs/s (%+.1f%%); samples in %s\n",
				first, lastMin, 100*(lastMin-first)/first, filepath.Join(soakOut, "soak.csv"))
			out(bench.Result{Mode: "soak", System: sys.Name, Seconds: soakCfg.Duration.Seconds(), JobsPerSec: lastMin})
			return nil
		}),
	}
	soak.Flags().DurationVar(&soakCfg.Duration, "duration", 10*time.Minute, "how long to run")
	soak.Flags().DurationVar(&soakCfg.Interval, "interval", 5*time.Second, "sampling period")
	soak.Flags().DurationVar(&soakCfg.HoldFrom, "hold-from", 3*time.Minute, "when to open the horizon-pinning transaction")
	soak.Flags().DurationVar(&soakCfg.HoldFor, "hold-for", 2*time.Minute, "how long to hold it (0: never)")
	soak.Flags().StringVar(&soakOut, "out", "soak-out", "folder for soak.csv")

	cmd.AddCommand(burndown, continuous, latency, insert, soak)
	return cmd
}
