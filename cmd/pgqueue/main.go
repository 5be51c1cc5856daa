// Command pgqueue operates pgqueue queues from a terminal: migrations,
// dead letters, stats, pausing queues, cancelling and retrying jobs.
//
//	pgqueue --database-url postgres://... --schema public stats
//	pgqueue dlq list --kind email.send --output json
//
// Every command prints a one-line error and exits non-zero on failure, and
// bulk destructive commands refuse to run without --yes.
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
	"github.com/spf13/cobra"

	"github.com/pgqueue/pgqueue"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the CLI and returns its exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "pgqueue: %s\n", oneLine(err))
		return 1
	}
	return 0
}

// oneLine flattens err to one line, without the library's own "pgqueue:"
// prefixes (the command already prints one).
func oneLine(err error) string {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	return strings.ReplaceAll(msg, "pgqueue: ", "")
}

// globals are the flags every command shares.
type globals struct {
	databaseURL string
	schema      string
	output      string
	// maxConns sizes the connection pool (bench raises it).
	maxConns int32
}

func newRootCmd() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "pgqueue",
		Short:         "Operate pgqueue job queues on Postgres",
		Long:          "pgqueue operates pgqueue job queues: migrations, dead letters, stats, pausing queues, cancelling and retrying jobs.",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if g.output != "table" && g.output != "json" {
				return fmt.Errorf("--output must be table or json, not %q", g.output)
			}
			return nil
		},
	}
	root.PersistentFlags().StringVar(&g.databaseURL, "database-url", "", "Postgres connection URL (default $DATABASE_URL)")
	root.PersistentFlags().StringVar(&g.schema, "schema", "public", "schema holding the pgqueue tables")
	root.PersistentFlags().StringVarP(&g.output, "output", "o", "table", "output format: table or json")
	root.AddCommand(newMigrateCmd(g), newDLQCmd(g), newStatsCmd(g), newQueueCmd(g), newJobsCmd(g), newBenchCmd(g))
	return root
}

// session is an open connection to one schema.
type session struct {
	pool    *pgxpool.Pool
	backend *pgqueue.PostgresBackend
	admin   *pgqueue.Admin
}

// connect opens the database and, unless forMigrate, checks that the
// schema is migrated so that commands fail with the fix, not a SQL error.
func (g *globals) connect(ctx context.Context, forMigrate bool) (*session, error) {
	url := g.databaseURL
	if url == "" {
		url = os.Getenv("DATABASE_URL")
	}
	if url == "" {
		return nil, errors.New("no database: pass --database-url or set DATABASE_URL")
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("bad database URL: %w", err)
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
		return nil, fmt.Errorf("open database: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("cannot reach the database at %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	b, err := pgqueue.NewPostgres(pool, &pgqueue.PostgresOptions{Schema: g.schema})
	if err != nil {
		pool.Close()
		return nil, err
	}
	s := &session{pool: pool, backend: b, admin: pgqueue.NewAdmin(b)}
	if !forMigrate {
		if err := s.admin.CheckMigrated(ctx); err != nil {
			pool.Close()
			return nil, err
		}
	}
	return s, nil
}

func (s *session) close() { s.pool.Close() }

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
