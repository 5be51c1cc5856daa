// Package pgtest gives each test its own migrated Postgres schema, so tests
// run in parallel against one real database.
//
// The database is found, in order, at PGQUEUE_TEST_DATABASE_URL; on
// localhost:5432 with the default user; or in a Postgres container started
// with testcontainers-go (needs Docker). A URL that is set but unusable
// fails the test; a database it names that does not exist is created (or
// the error gives the createdb command). With no URL and no server a test
// fails when CI=true and is skipped otherwise, with a message saying how
// to provide one.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/servicetest"
)

// EnvURL names the variable that points tests at a Postgres database.
const EnvURL = "PGQUEUE_TEST_DATABASE_URL"

const localURL = "postgres://localhost:5432/?sslmode=disable"

var finder = NewFinder()

// NewFinder returns a fresh finder of the test Postgres (the package uses
// one; tests of the finding itself make their own). A URL whose database
// does not exist gets it created, connecting to the server's postgres
// database; when that is not allowed, the error is the createdb command to
// run.
func NewFinder() *servicetest.Finder {
	return &servicetest.Finder{
		Name: "Postgres", Local: "localhost:5432", EnvVar: EnvURL, LocalURL: localURL, Ping: ping,
		Repair: createMissingDatabase, Container: startContainer,
	}
}

// createMissingDatabase creates the database named in url when pingErr says
// it does not exist (SQLSTATE 3D000), connecting to the same server's
// postgres database as the same user. Any other error is returned as is.
func createMissingDatabase(url string, pingErr error) error {
	var pgErr *pgconn.PgError
	if !errors.As(pingErr, &pgErr) || pgErr.Code != "3D000" {
		return pingErr
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return err
	}
	db := cfg.Database
	admin := cfg.Copy()
	admin.Database = "postgres"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, admin)
	if err == nil {
		_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize())
		_ = conn.Close(context.Background())
		// Another test binary may have created it at the same moment.
		if errors.As(err, &pgErr) && (pgErr.Code == "42P04" || pgErr.Code == "23505") {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("database %q does not exist, and creating it failed (%v); create it with: %s", db, err, CreatedbCommand(cfg))
	}
	return ping(url)
}

// CreatedbCommand returns the createdb command line that creates cfg's
// database on cfg's server as cfg's user.
func CreatedbCommand(cfg *pgx.ConnConfig) string {
	return fmt.Sprintf("createdb -h %s -p %d -U %s %s", shellQuote(cfg.Host), cfg.Port, shellQuote(cfg.User), shellQuote(cfg.Database))
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-/:") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// URL returns the test Postgres URL. It fails the test when
// PGQUEUE_TEST_DATABASE_URL is set but unusable, and when no Postgres was
// found it fails (CI=true) or skips the test.
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
