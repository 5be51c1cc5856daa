// Package pgtest gives each test its own migrated Postgres schema, so tests
// run in parallel against one real database.
//
// The database is found, in order, at PGQUEUE_TEST_DATABASE_URL; on
// localhost:5432 with the default user; or in a Postgres container started
// with testcontainers-go (needs Docker). With none of them a test fails
// when CI=true and is skipped otherwise, with a message saying how to
// provide one.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/servicetest"
)

// EnvURL names the variable that points tests at a Postgres database.
const EnvURL = "PGQUEUE_TEST_DATABASE_URL"

const localURL = "postgres://localhost:5432/?sslmode=disable"

var finder = &servicetest.Finder{
	Name: "Postgres", Local: "localhost:5432", EnvVar: EnvURL, LocalURL: localURL, Ping: ping,
	Container: startContainer,
}

// URL returns the test Postgres URL, or fails (CI=true) or skips the test
// when there is none.
func URL(t testing.TB) string {
	t.Helper()
	return finder.URL(t)
}

// startContainer starts a Postgres container for the test binary;
// testcontainers' reaper removes it when the process exits.
func startContainer() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := tcpostgres.Run(ctx, "postgres:15-alpine",
		tcpostgres.WithDatabase("pgqueue"), tcpostgres.WithUsername("pgqueue"), tcpostgres.WithPassword("pgqueue"),
		tcpostgres.BasicWaitStrategies())
	if err != nil {
		return "", err
	}
	return c.ConnectionString(ctx, "sslmode=disable")
}
func ping(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.Ping(ctx)
}

// Pool returns a pool on the test database, closed when the test ends.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(URL(t))
	if err != nil {
		t.Fatalf("pgtest: parse %s: %v", EnvURL, err)
	}
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("pgtest: open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// NewSchema creates an empty, uniquely named schema, dropped (with all it
// holds) when the test ends, and returns a pool and the schema's name.
func NewSchema(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	pool := Pool(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "pgqueue_test_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := pool.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Logf("pgtest: drop schema %s: %v", schema, err)
		}
	})
	return pool, schema
}

// Migrated returns a pool and a fresh schema with pgqueue's migrations
// applied.
func Migrated(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	pool, schema := NewSchema(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pgqueue.Migrate(ctx, pool, &pgqueue.MigrateOptions{Schema: schema}); err != nil {
		t.Fatalf("pgtest: migrate schema %s: %v", schema, err)
	}
	return pool, schema
}

// Backend returns a Postgres backend over a fresh migrated schema.
func Backend(t testing.TB) *pgqueue.PostgresBackend {
	t.Helper()
	pool, schema := Migrated(t)
	b, err := pgqueue.NewPostgres(pool, &pgqueue.PostgresOptions{Schema: schema})
	if err != nil {
		t.Fatalf("pgtest: new backend: %v", err)
	}
	return b
}
