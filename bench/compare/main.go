// Command compare runs pgqueue's bench workloads (burndown, continuous,
// latency, insert) on pgqueue and on River, alternating between them
// against the same database in one run, and prints each result and its
// ratio to River's.
//
// pgqueue runs with its default configuration. River runs twice: with the
// settings of River's own benchmark and with River's defaults. Each system
// gets a fresh schema that is dropped at exit.
//
// It is a module of its own so that River never becomes a dependency of
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
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/bench"
)

// options are the command-line settings.
type options struct {
	databaseURL string
	jobs        int64
	bulkJobs    int64
	txJobs      int64
	duration    time.Duration
	rate        float64
	rounds      int
	goroutines  int
	producers   int
	batch       int
	maxConns    int
	retention   time.Duration
	timeout     time.Duration
	only        string
	asJSON      bool
}

var workloadNames = []string{"burndown", "continuous", "latency", "insert"}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.databaseURL, "database-url", "", "Postgres URL (default $DATABASE_URL)")
	fs.Int64Var(&o.jobs, "jobs", 200000, "jobs to insert and drain in burndown")
	fs.Int64Var(&o.bulkJobs, "bulk-jobs", 0, "jobs for the bulk insert paths (many, copy); 0 means half of --jobs")
	fs.Int64Var(&o.txJobs, "tx-jobs", 20000, "jobs for the one-per-transaction insert path")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "how long continuous and latency run")
	fs.Float64Var(&o.rate, "rate", 200, "jobs per second in latency")
	fs.IntVar(&o.rounds, "rounds", 1, "times each system runs each workload; the table shows the median")
	fs.IntVar(&o.goroutines, "goroutines", 8, "concurrent producers for the one-per-transaction insert path")
	fs.IntVar(&o.producers, "producers", 2, "concurrent producers in continuous")
	fs.IntVar(&o.batch, "batch", 100, "jobs per insert in continuous")
	fs.IntVar(&o.maxConns, "max-conns", 4, "connections in each system's pool (both CLIs use 4 on a 2-core machine)")
	fs.DurationVar(&o.retention, "retention", 0, "pgqueue's Config.Retention: keep completed jobs this long, as River does (default 0: deleted)")
	fs.DurationVar(&o.timeout, "timeout", 15*time.Minute, "give up on one workload run after this long")
	fs.StringVar(&o.only, "only", "", "comma-separated workloads to run (default all: "+strings.Join(workloadNames, ",")+")")
	fs.BoolVar(&o.asJSON, "json", false, "also print each result as a JSON object, as the last lines")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if o.bulkJobs == 0 {
		// Half of the burndown size reproduces the reference
		// figures (200,000 burndown, 100,000 bulk) from the defaults.
		o.bulkJobs = max(1, o.jobs/2)
	}
	if o.retention < 0 {
		return o, errors.New("--retention must not be negative")
	}
	if o.jobs <= 0 || o.bulkJobs <= 0 || o.txJobs <= 0 || o.duration <= 0 || o.rate <= 0 ||
		o.rounds <= 0 || o.goroutines <= 0 || o.producers <= 0 || o.batch <= 0 || o.maxConns <= 0 || o.timeout <= 0 {
		return o, errors.New("all sizes, durations and counts must be positive")
	}
	for _, w := range o.selected() {
		if !slices.Contains(workloadNames, w) {
			return o, fmt.Errorf("unknown workload %q in --only (have %s)", w, strings.Join(workloadNames, ", "))
		}
	}
	if o.databaseURL == "" {
		o.databaseURL = os.Getenv("DATABASE_URL")
	}
	if o.databaseURL == "" {
		return o, errors.New("no database: pass --database-url or set DATABASE_URL")
	}
	return o, nil
}

// selected lists the workloads to run, in the fixed order of workloadNames
// when --only is empty.
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

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without os.Exit, so that every deferred cleanup (above all,
// dropping the schemas) runs before the process ends.
func run(args []string, stdout, stderr io.Writer) int {
	opts, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "compare:", err)
		return 2
	}

	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	finished := make(chan struct{})
	defer close(finished)

	env, err := setUp(ctx, opts, stdout, stderr)
	if env != nil {
		defer env.tearDown(stderr)
		go env.forceOnSecondSignal(ctx, finished, stderr)
	}
	if err != nil {
		fmt.Fprintln(stderr, "compare: set up:", err)
		return 1
	}

	results, failed := runAll(ctx, opts, env.systems, stdout)
	fmt.Fprintln(stdout)
	writeTable(stdout, opts, env.systems, results)
	if opts.asJSON {
		if err := writeJSON(stdout, results); err != nil {
			fmt.Fprintln(stderr, "compare:", err)
			return 1
		}
	}
	switch {
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "compare: interrupted; the table holds the runs that finished")
		return 130
	case failed:
		return 1
	}
	return 0
}

// env is the database side of one comparison: the pools and schemas each
// system runs on.
type env struct {
	admin   *pgxpool.Pool
	pools   []*pgxpool.Pool
	schemas []string
	systems []bench.System
}

// setUp connects, creates and migrates one schema for pgqueue and one for
// River (both River variants share it, as they never run at once), and
// builds the systems. It returns env as soon as the admin pool exists, even
// with an error, so that the caller's tearDown drops whatever was created.
func setUp(ctx context.Context, opts options, stdout, stderr io.Writer) (*env, error) {
	cfg, err := pgxpool.ParseConfig(opts.databaseURL)
	if err != nil {
		return nil, fmt.Errorf("bad database URL: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	adminCfg := cfg.Copy()
	adminCfg.MaxConns = 2
	admin, err := pgxpool.NewWithConfig(ctx, adminCfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	suffix := hex.EncodeToString(b[:])
	pgqSchema, riverSchema := "pgqueue_cmp_"+suffix, "river_cmp_"+suffix
	e := &env{admin: admin}

	var version string
	if err := admin.QueryRow(ctx, "SHOW server_version").Scan(&version); err != nil {
		return e, fmt.Errorf("cannot reach the database at %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	fmt.Fprintf(stdout, "PostgreSQL %s; schemas %s (pgqueue) and %s (River); %d connections per system\n",
		version, pgqSchema, riverSchema, opts.maxConns)

	// Each system gets a pool of its own, sized alike, so that one system's
	// leftover connections never count against the next one.
	newPool := func() (*pgxpool.Pool, error) {
		c := cfg.Copy()
		c.MaxConns = int32(opts.maxConns)
		p, err := pgxpool.NewWithConfig(ctx, c)
		if err == nil {
			e.pools = append(e.pools, p)
		}
		return p, err
	}

	// A schema is listed for dropping just before its migration starts, so
	// that a half-done migration is cleaned up too.
	e.schemas = append(e.schemas, pgqSchema)
	if err := pgqueue.Migrate(ctx, admin, &pgqueue.MigrateOptions{Schema: pgqSchema}); err != nil {
		return e, fmt.Errorf("pgqueue migrate: %w", err)
	}
	// River's logger goes to stderr at warning level: River logs to stdout
	// by default, which would interleave with the results.
	riverLog := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	e.schemas = append(e.schemas, riverSchema)
	if err := migrateRiver(ctx, admin, riverSchema, riverLog); err != nil {
		return e, err
	}

	pool, err := newPool()
	if err != nil {
		return e, err
	}
	pgq, err := bench.Pgqueue("pgqueue", pool, pgqueue.PostgresOptions{Schema: pgqSchema}, pgqueue.Config{Retention: opts.retention})
	if err != nil {
		return e, err
	}
	e.systems = append(e.systems, pgq)
	for _, v := range []riverVariant{riverBenchSettings, riverDefaults} {
		pool, err := newPool()
		if err != nil {
			return e, err
		}
		sys, err := riverSystem(v, pool, riverSchema, riverLog)
		if err != nil {
			return e, err
		}
		e.systems = append(e.systems, sys)
	}
	return e, nil
}

// tearDown closes the systems' pools and drops the schemas. It uses a
// fresh context because it must run after an interrupt too.
func (e *env) tearDown(stderr io.Writer) {
	for _, p := range e.pools {
		closeWithin(p, 10*time.Second)
	}
	e.dropSchemas(time.Minute, stderr)
	e.admin.Close()
}

// closeWithin closes p, giving up after d: Close waits for every acquired
// connection, and a client that failed to stop may never release its own.
func closeWithin(p *pgxpool.Pool, d time.Duration) {
	done := make(chan struct{})
	go func() {
		p.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d):
	}
}

func (e *env) dropSchemas(timeout time.Duration, stderr io.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for _, s := range e.schemas {
		stmt := "DROP SCHEMA IF EXISTS " + pgx.Identifier{s}.Sanitize() + " CASCADE"
		if _, err := e.admin.Exec(ctx, stmt); err != nil {
			fmt.Fprintf(stderr, "compare: could not drop schema %s (%v); drop it by hand: %s\n", s, err, stmt)
		}
	}
}

// forceOnSecondSignal lets a second Ctrl-C end a run whose clients do not
// stop in time, still trying to drop the schemas on the way out. It returns
// when run finishes without an interrupt.
func (e *env) forceOnSecondSignal(ctx context.Context, finished <-chan struct{}, stderr io.Writer) {
	select {
	case <-ctx.Done():
	case <-finished:
		return
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	fmt.Fprintln(stderr, "compare: stopping; interrupt again to drop the schemas and exit at once")
	select {
	case <-sig:
	case <-finished:
		return
	}
	// A client that did not stop may hold locks that DROP SCHEMA waits on;
	// do not wait long for them.
	e.dropSchemas(10*time.Second, stderr)
	os.Exit(130)
}
