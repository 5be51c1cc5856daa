// Command pgqueue operates pgqueue queues from a terminal: migrations,
// dead letters, stats, pausing queues, cancelling and retrying jobs.
//
//	pgqueue --database-url postgres://app@localhost:5432/app --schema public stats
//	pgqueue dlq list --kind email.send --output json
//
// Every command prints a one-line error and exits 1 on failure (with
// --output json, {"error": "...", "code": "..."} on stderr), and
// destructive commands refuse to run without --yes.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/redisqueue"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the CLI and returns its exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	g := &globals{}
	root := newRootCmd(g)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		printError(stderr, err, g.output == "json" || wantsJSON(args))
		return 1
	}
	return 0
}

// globals are the flags every command shares.
type globals struct {
	databaseURL string
	schema      string
	// redisURL, when set, points every command but migrate and bench at a
	// redisqueue store instead of Postgres; redisPrefix is its key prefix.
	redisURL    string
	redisPrefix string
	output      string
	// maxConns sizes the connection pool (bench raises it).
	maxConns int32
}

func (g *globals) json() bool { return g.output == "json" }

func newRootCmd(g *globals) *cobra.Command {
	var showVersion bool
	root := &cobra.Command{
		Use:           "pgqueue",
		Short:         "Operate pgqueue job queues on Postgres (or Redis)",
		Long:          "pgqueue operates pgqueue job queues: migrations, dead letters, stats, pausing queues, cancelling and retrying jobs, running clients and periodic jobs.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          noSubcommand,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if g.output != "table" && g.output != "json" {
				return usageErr("--output must be table or json, not %q", g.output)
			}
			if g.schema == "" {
				return usageErr("--schema must not be empty (leave the flag out for the default, public)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if showVersion {
				return printVersion(cmd, g)
			}
			return cmd.Help()
		},
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageErr("%s: %v", cmd.CommandPath(), err)
	})
	root.Flags().BoolVar(&showVersion, "version", false, "print the version of pgqueue (module version, VCS revision, Go version)")
	root.PersistentFlags().StringVar(&g.databaseURL, "database-url", "", "Postgres connection URL, e.g. postgres://app@localhost:5432/app (default $DATABASE_URL)")
	root.PersistentFlags().StringVar(&g.schema, "schema", "public", "schema holding the pgqueue tables (not empty)")
	root.PersistentFlags().StringVar(&g.redisURL, "redis-url", "", "Redis URL of a redisqueue store, e.g. redis://localhost:6379/0, used instead of Postgres by stats, jobs, dlq, queue, clients, periodic and web")
	root.PersistentFlags().StringVar(&g.redisPrefix, "redis-prefix", redisqueue.DefaultPrefix, "key prefix of the redisqueue store (redisqueue.Options.Prefix), with --redis-url")
	root.PersistentFlags().StringVarP(&g.output, "output", "o", "table", "output format: table or json (errors too, on stderr)")
	root.AddCommand(newMigrateCmd(g), newDLQCmd(g), newStatsCmd(g), newQueueCmd(g), newJobsCmd(g), newClientsCmd(g), newPeriodicCmd(g), newWorkflowsCmd(g), newBenchCmd(g), newVersionCmd(g), newWebCmd(g))
	return root
}

// group returns a command that only holds subcommands: run bare it prints
// its help; with an argument that names no subcommand it fails, naming
// the mistake (cobra would print the help and exit 0).
func group(use, short, long string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  noSubcommand,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
}

// noSubcommand refuses arguments to a command that only holds subcommands.
func noSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf(" (did you mean %q?)", s[0])
	}
	return usageErr("%s; the commands are %s", msg, strings.Join(names, ", "))
}

// exactArgs accepts exactly n arguments, described by what ("a job ID").
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			if len(args) == 0 {
				return usageErr("%s takes %s, got none", cmd.CommandPath(), what)
			}
			return usageErr("%s takes %s, got %d: %s", cmd.CommandPath(), what, len(args), strings.Join(args, " "))
		}
		return nil
	}
}

// noArgs refuses any argument.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErr("%s takes no arguments, got %d: %s", cmd.CommandPath(), len(args), strings.Join(args, " "))
	}
	return nil
}

// session is an open connection to one schema, or to a Redis store
// (then pool and backend are nil).
type session struct {
	pool    *pgxpool.Pool
	backend *pgqueue.PostgresBackend
	admin   *pgqueue.Admin
	schema  string
	// where names the store in messages: "schema public" or "Redis
	// prefix pgqueue".
	where string
	// closeRedis closes the Redis client of a Redis session.
	closeRedis func()
}

// connect opens the database and, unless forMigrate, checks that the
// schema is migrated so that commands fail with the fix, not a SQL error.
// With --redis-url it opens the redisqueue store instead (refused for
// migrate and bench, which need Postgres).
func (g *globals) connect(ctx context.Context, forMigrate bool) (*session, error) {
	if g.redisURL != "" {
		if forMigrate {
			return nil, usageErr("this command needs Postgres (--database-url); --redis-url works with stats, jobs, dlq, queue, clients, periodic and web")
		}
		if g.databaseURL != "" {
			return nil, usageErr("pass --database-url or --redis-url, not both")
		}
		return g.connectRedis(ctx)
	}
	url := g.databaseURL
	if url == "" {
		url = os.Getenv("DATABASE_URL")
	}
	if url == "" {
		return nil, usageErr("no database: pass --database-url or set DATABASE_URL")
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, coded("bad_url", fmt.Errorf("bad database URL: %w", err))
	}
	cfg.MaxConns = 4
	if g.maxConns > 0 {
		cfg.MaxConns = g.maxConns
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, coded("database", fmt.Errorf("open database: %w", err))
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, coded("database", fmt.Errorf("cannot reach the database at %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err))
	}
	b, err := pgqueue.NewPostgres(pool, &pgqueue.PostgresOptions{Schema: g.schema})
	if err != nil {
		pool.Close()
		return nil, err
	}
	s := &session{pool: pool, backend: b, admin: pgqueue.NewAdmin(b), schema: g.schema, where: "schema " + g.schema}
	if !forMigrate {
		if err := s.admin.CheckMigrated(ctx); err != nil {
			pool.Close()
			return nil, err
		}
	}
	return s, nil
}

// connectRedis opens the redisqueue store at --redis-url under
// --redis-prefix and checks that Redis answers.
func (g *globals) connectRedis(ctx context.Context) (*session, error) {
	opts, err := redis.ParseURL(g.redisURL)
	if err != nil {
		return nil, coded("bad_url", fmt.Errorf("bad Redis URL: %w", err))
	}
	if opts.DialTimeout == 0 {
		opts.DialTimeout = 5 * time.Second
	}
	client := redis.NewClient(opts)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := client.Ping(pingCtx).Err(); err != nil {
		_ = client.Close()
		return nil, coded("database", fmt.Errorf("cannot reach Redis at %s: %w", opts.Addr, err))
	}
	b, err := redisqueue.New(client, &redisqueue.Options{Prefix: g.redisPrefix})
	if err != nil {
		_ = client.Close()
		return nil, err
	}
	return &session{admin: pgqueue.NewAdmin(b), where: "Redis prefix " + g.redisPrefix, closeRedis: func() { _ = client.Close() }}, nil
}

func (s *session) close() {
	if s.closeRedis != nil {
		s.closeRedis()
	}
	if s.pool != nil {
		s.pool.Close()
	}
}

// withSession runs fn on a migrated schema's session.
func (g *globals) withSession(fn func(cmd *cobra.Command, args []string, s *session) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		s, err := g.connect(cmd.Context(), false)
		if err != nil {
			return err
		}
		defer s.close()
		return fn(cmd, args, s)
	}
}

// isNotFound reports whether err is the library's ErrJobNotFound.
func isNotFound(err error) bool { return errors.Is(err, pgqueue.ErrJobNotFound) }
