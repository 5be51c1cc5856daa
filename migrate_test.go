package pgqueue_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// describeSchema renders the tables, columns, constraints, indexes and
// storage options of schema as stable text, with the schema name replaced
// by SCHEMA so that it compares across test schemas.
func describeSchema(t *testing.T, pool *pgxpool.Pool, schema string) string {
	t.Helper()
	ctx := context.Background()
	var sb strings.Builder
	section := func(title, query string) {
		rows, err := pool.Query(ctx, query, schema)
		require.NoError(t, err, "describe schema: %s", title)
		fmt.Fprintf(&sb, "## %s\n", title)
		for rows.Next() {
			vals, err := rows.Values()
			require.NoError(t, err)
			parts := make([]string, len(vals))
			for i, v := range vals {
				parts[i] = fmt.Sprint(v)
			}
			sb.WriteString(strings.ReplaceAll(strings.Join(parts, " | "), schema, "SCHEMA") + "\n")
		}
		require.NoError(t, rows.Err(), "describe schema: %s", title)
	}
	section("columns", `SELECT table_name, column_name, data_type, is_nullable, coalesce(column_default, ''), coalesce(generation_expression, ''), coalesce(identity_generation, '')
		FROM information_schema.columns WHERE table_schema = $1 ORDER BY table_name, ordinal_position`)
	section("constraints", `SELECT c.relname, con.conname, pg_get_constraintdef(con.oid)
		FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
		WHERE con.connamespace = $1::regnamespace ORDER BY c.relname, con.conname`)
	section("indexes", `SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = $1 ORDER BY tablename, indexname`)
	section("functions", `SELECT p.proname, pg_get_function_identity_arguments(p.oid), pg_get_function_result(p.oid), coalesce(array_to_string(p.proconfig, ', '), '')
		FROM pg_proc p WHERE p.pronamespace = $1::regnamespace ORDER BY p.proname`)
	section("storage", `SELECT relname, coalesce(array_to_string(reloptions, ', '), '') FROM pg_class
		WHERE relnamespace = $1::regnamespace AND relkind = 'r' ORDER BY relname`)
	return sb.String()
}

func TestMigrateMatchesGoldenSchema(t *testing.T) {
	t.Parallel()
	pool, schema := pgtest.Migrated(t)
	got := describeSchema(t, pool, schema)
	const golden = "testdata/schema.golden"
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "read %s (run `go test -run TestMigrateMatchesGoldenSchema -update .` to create it)", golden)
	require.Equal(t, string(want), got, "the migrated schema differs from %s; if the change is intended, rerun with -update and review the diff", golden)
}

func TestMigrateIsIdempotentAndReversible(t *testing.T) {
	t.Parallel()
	pool, schema := pgtest.Migrated(t)
	ctx := context.Background()
	before := describeSchema(t, pool, schema)

	require.NoError(t, pgqueue.Migrate(ctx, pool, &pgqueue.MigrateOptions{Schema: schema}), "a second Migrate must be a no-op")
	require.Equal(t, before, describeSchema(t, pool, schema), "a second Migrate changed the schema")

	m, err := pgqueue.NewMigrator(pool, &pgqueue.MigrateOptions{Schema: schema})
	require.NoError(t, err)
	defer m.Close()
	v, err := m.Version(ctx)
	require.NoError(t, err)
	files, err := fs.Glob(pgqueue.Migrations(), "*.sql")
	require.NoError(t, err)
	require.EqualValues(t, len(files), v, "version after migrating: one per embedded migration")

	require.NoError(t, m.DownTo(ctx, 0), "rolling back every migration")
	var tables int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename LIKE 'pgqueue_%' AND tablename <> $2`, schema, pgqueue.MigrationsTable).Scan(&tables))
	require.Zero(t, tables, "tables left after migrating down to 0")

	require.NoError(t, m.Up(ctx), "migrating up again")
	require.Equal(t, before, describeSchema(t, pool, schema), "down then up does not give back the same schema")
}

func TestMigrateUsesItsOwnVersionTable(t *testing.T) {
	t.Parallel()
	pool, schema := pgtest.Migrated(t)
	ctx := context.Background()
	var names []string
	rows, err := pool.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename`, schema)
	require.NoError(t, err)
	names, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Contains(t, names, pgqueue.MigrationsTable, "pgqueue's goose version table must live in the migrated schema")
	require.NotContains(t, names, "goose_db_version", "pgqueue must not use goose's default version table, which belongs to the application")
}

func TestMigrateQuotesOddSchemaNames(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	ctx := context.Background()
	schema := fmt.Sprintf(`Odd "schema"; DROP %d`, time.Now().UnixNano())
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	})
	require.NoError(t, pgqueue.Migrate(ctx, pool, &pgqueue.MigrateOptions{Schema: schema}), "Migrate must quote the schema name")
	b, err := pgqueue.NewPostgres(pool, &pgqueue.PostgresOptions{Schema: schema})
	require.NoError(t, err)
	c, err := pgqueue.New(b, pgqueue.Config{})
	require.NoError(t, err)
	id, err := c.Enqueue(ctx, noopArgs{}, nil)
	require.NoError(t, err, "enqueue into a schema whose name needs quoting")
	var n int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{schema, "pgqueue_jobs"}.Sanitize()+" WHERE id = $1", id).Scan(&n))
	require.Equal(t, 1, n, "the job must be in the odd schema's jobs table")
}

func TestMigrateUnreachableDatabase(t *testing.T) {
	t.Parallel()
	cfg, err := pgxpool.ParseConfig("postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	require.NoError(t, err)
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	defer pool.Close()
	err = pgqueue.Migrate(context.Background(), pool, nil)
	require.Error(t, err, "Migrate against a closed port must fail")
	require.True(t, errors.Is(err, pgqueue.ErrDatabase), "want an error matching ErrDatabase, got %v", err)
}

func TestMigrateRejectsBadOptions(t *testing.T) {
	t.Parallel()
	err := pgqueue.Migrate(context.Background(), nil, nil)
	require.ErrorIs(t, err, pgqueue.ErrInvalidConfig, "nil pool")
	pool := pgtest.Pool(t)
	_, err = pgqueue.NewMigrator(pool, &pgqueue.MigrateOptions{Schema: strings.Repeat("s", 64)})
	require.ErrorIs(t, err, pgqueue.ErrInvalidConfig, "a 64-byte schema name is longer than Postgres allows")
	_, err = pgqueue.NewPostgres(nil, nil)
	require.ErrorIs(t, err, pgqueue.ErrInvalidConfig, "NewPostgres with a nil pool")
	_, err = pgqueue.NewPostgres(pool, &pgqueue.PostgresOptions{Schema: strings.Repeat("s", 64)})
	require.ErrorIs(t, err, pgqueue.ErrInvalidConfig, "NewPostgres with a 64-byte schema name")
	_, err = pgqueue.NewPostgres(pool, &pgqueue.PostgresOptions{ListenerPingInterval: -time.Second})
	require.ErrorIs(t, err, pgqueue.ErrInvalidConfig, "NewPostgres with a negative ListenerPingInterval")
}

func TestMigrationFilesAreGooseFiles(t *testing.T) {
	t.Parallel()
	entries, err := os.ReadDir("migrations")
	require.NoError(t, err)
	require.NotEmpty(t, entries)
	for _, e := range entries {
		body, err := os.ReadFile("migrations/" + e.Name())
		require.NoError(t, err)
		require.Regexp(t, `^\d{5}_[a-z0-9_]+\.sql$`, e.Name(), "goose file name")
		require.Contains(t, string(body), "-- +goose Up", "%s needs an Up section", e.Name())
		require.Contains(t, string(body), "-- +goose Down", "%s needs a Down section", e.Name())
	}
}

type noopArgs struct{}

func (noopArgs) Kind() string { return "noop" }

func TestConcurrentMigratesOfAFreshSchemaAllSucceed(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	schema := fmt.Sprintf("pgqueue_test_concurrent_%d", time.Now().UnixNano())
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	})
	errs := make(chan error, 4)
	for range cap(errs) {
		go func() { errs <- pgqueue.Migrate(context.Background(), pool, &pgqueue.MigrateOptions{Schema: schema}) }()
	}
	for range cap(errs) {
		require.NoError(t, <-errs, "four deploys migrating the same fresh schema at once must all succeed")
	}
}

// A schema migrated to an older version (here the one before the newest)
// is refused at Start with ErrNotMigrated saying how to fix it, instead of
// failing at every claim; migrated up, the same client starts.
func TestStartRefusesASchemaOfAnOlderVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, schema := pgtest.Migrated(t)
	m, err := pgqueue.NewMigrator(pool, &pgqueue.MigrateOptions{Schema: schema})
	require.NoError(t, err)
	defer m.Close()
	files, err := fs.Glob(pgqueue.Migrations(), "*.sql")
	require.NoError(t, err)
	require.NoError(t, m.DownTo(ctx, int64(len(files)-1)), "roll back the newest migration")
	b, err := pgqueue.NewPostgres(pool, &pgqueue.PostgresOptions{Schema: schema})
	require.NoError(t, err)
	c, err := pgqueue.New(b, pgqueue.Config{})
	require.NoError(t, err)
	require.NoError(t, pgqueue.Register(c, pgqueue.WorkFunc[pingArgs](func(context.Context, *pgqueue.Job[pingArgs]) error { return nil })))
	err = c.Start(ctx)
	require.ErrorIs(t, err, pgqueue.ErrNotMigrated, "Start on a schema one migration behind")
	require.ErrorContains(t, err, "migrate up", "the error says how to fix it")
	require.NoError(t, m.Up(ctx))
	require.NoError(t, c.Start(ctx), "Start once the schema is migrated up")
	require.NoError(t, c.Stop(ctx))
}
