// Package examples_test runs the README's "Postgres in five minutes"
// commands, as written, on a fresh database, and the transactional
// example, checking that it cleans up after itself.
package examples_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue/internal/pgtest"
	"github.com/pgqueue/pgqueue/internal/servicetest"
)

func TestMain(m *testing.M) { os.Exit(servicetest.Run(m)) }

// fiveMinutes returns the shell block between the README's five-minutes
// markers.
func fiveMinutes(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	_, rest, found := strings.Cut(string(readme), "<!-- five-minutes:begin -->")
	require.True(t, found, "README.md lost its five-minutes:begin marker")
	block, _, found := strings.Cut(rest, "<!-- five-minutes:end -->")
	require.True(t, found, "README.md lost its five-minutes:end marker")
	_, block, _ = strings.Cut(block, "```sh\n")
	block, _, _ = strings.Cut(block, "```")
	require.Contains(t, block, "pgqueue migrate up")
	return block
}

// freshDatabase returns a database name nobody uses, dropped when the
// test ends, and a connection to the test server's own database.
func freshDatabase(t *testing.T) (string, *pgx.ConnConfig) {
	t.Helper()
	cfg, err := pgx.ParseConfig(pgtest.URL(t))
	require.NoError(t, err)
	var b [5]byte
	_, _ = rand.Read(b[:])
	name := "pgqueue_readme_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		conn, err := pgx.ConnectConfig(context.Background(), cfg)
		require.NoError(t, err)
		defer conn.Close(context.Background())
		_, err = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		require.NoError(t, err)
	})
	return name, cfg
}

func TestREADMEFiveMinutesPathRunsAsWritten(t *testing.T) {
	t.Parallel()
	db, cfg := freshDatabase(t)
	script := fiveMinutes(t)
	// The README's database, server and user, pointed at this test's.
	script = strings.ReplaceAll(script, "pgqueue_demo", db)
	script = strings.ReplaceAll(script, "-h 127.0.0.1 -p 5432 -U postgres", "-h "+cfg.Host+" -p "+strconv.Itoa(int(cfg.Port))+" -U "+cfg.User)
	script = strings.ReplaceAll(script, "postgres://postgres@127.0.0.1:5432/", "postgres://"+cfg.User+"@"+cfg.Host+":"+strconv.Itoa(int(cfg.Port))+"/")

	bin := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "GOBIN="+bin, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "DATABASE_URL=")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "the README's five-minutes commands failed:\n%s\n--- output:\n%s", script, out)
	text := string(out)
	require.FileExists(t, filepath.Join(bin, "pgqueue"), "go install ./cmd/pgqueue installs the CLI")
	require.Contains(t, text, "schema public is at version")
	require.Contains(t, text, "order 1 and its job 1 committed together")
	require.Contains(t, text, "state:     available", "pgqueue jobs show sees the waiting job")
	require.Contains(t, text, "job 1: receipt sent for order 1")
	require.Contains(t, text, "queue empty: done")
}

func TestTransactionalExampleCleansUp(t *testing.T) {
	t.Parallel()
	db, cfg := freshDatabase(t)
	conn, err := pgx.ConnectConfig(context.Background(), cfg)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(context.Background(), "CREATE DATABASE "+pgx.Identifier{db}.Sanitize())
	require.NoError(t, err)
	url := "postgres://" + cfg.User + "@" + cfg.Host + ":" + strconv.Itoa(int(cfg.Port)) + "/" + db + "?sslmode=disable"

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "run", "./examples/transactional")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "DATABASE_URL="+url)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "examples/transactional failed:\n%s", out)
	require.Contains(t, string(out), "the rolled-back order has no job: done")
	require.Contains(t, string(out), "schema pgqueue_example dropped")

	other, err := pgx.Connect(context.Background(), url)
	require.NoError(t, err)
	defer other.Close(context.Background())
	var left bool
	require.NoError(t, other.QueryRow(context.Background(), "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = 'pgqueue_example')").Scan(&left))
	require.False(t, left, "the example must drop its schema")
}
