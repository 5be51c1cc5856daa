package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/internal/pgtest"
	"github.com/pgqueue/pgqueue/internal/servicetest"
)

// binary is the pgqueue command, built once for the whole test run.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pgqueue-cli")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "pgqueue")
	// -buildvcs=true: stamp the VCS revision that `pgqueue version` prints,
	// whatever GOFLAGS says (a checkout that is a git worktree still gets
	// none: the go command does not read those).
	out, err := exec.Command("go", "build", "-buildvcs=true", "-o", binary, ".").CombinedOutput()
	if err != nil {
		panic("build pgqueue: " + err.Error() + "\n" + string(out))
	}
	code := servicetest.Run(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// cli runs the built binary against url and schema.
func cli(t *testing.T, url, schema string, args ...string) result {
	t.Helper()
	return runRaw(t, append([]string{"--database-url", url, "--schema", schema}, args...)...)
}

func ok(t *testing.T, r result, what string) string {
	t.Helper()
	require.Equal(t, 0, r.code, "%s: exit code; stderr: %s", what, r.stderr)
	return r.stdout
}

func fails(t *testing.T, r result, what, wantInErr string) {
	t.Helper()
	require.NotEqual(t, 0, r.code, "%s must fail; stdout: %s", what, r.stdout)
	require.Contains(t, r.stderr, wantInErr, "%s: error message", what)
	require.Equal(t, 1, strings.Count(strings.TrimSpace(r.stderr), "\n")+1, "%s: the error must be one line, got %q", what, r.stderr)
}

type cliArgs struct {
	N int `json:"n"`
}

func (cliArgs) Kind() string { return "cli.job" }

type otherArgs struct{}

func (otherArgs) Kind() string { return "cli.other" }

func setup(t *testing.T) (string, string, *pgqueue.PostgresBackend) {
	t.Helper()
	pool, schema := pgtest.Migrated(t)
	b, err := pgqueue.NewPostgres(pool, &pgqueue.PostgresOptions{Schema: schema})
	require.NoError(t, err)
	return pgtest.URL(t), schema, b
}

func TestCLIDeadLetterListShowRequeue(t *testing.T) {
	t.Parallel()
	url, schema, b := setup(t)
	ctx := context.Background()
	var healthy atomic.Bool
	ran := make(chan int, 4)
	c, err := pgqueue.New(b, pgqueue.Config{PollInterval: 20 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, pgqueue.Register(c, pgqueue.WorkFunc[cliArgs](func(ctx context.Context, j *pgqueue.Job[cliArgs]) error {
		if !healthy.Load() {
			return errors.New("downstream is down")
		}
		ran <- j.Args.N
		return nil
	})))
	require.NoError(t, c.Start(ctx))
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	id, err := c.Enqueue(ctx, cliArgs{N: 7}, &pgqueue.EnqueueOptions{MaxAttempts: 1})
	require.NoError(t, err)

	var listed []struct {
		ID     int64           `json:"id"`
		Kind   string          `json:"kind"`
		Args   json.RawMessage `json:"args"`
		Errors []struct {
			Error string `json:"error"`
		} `json:"errors"`
	}
	require.Eventually(t, func() bool {
		out := ok(t, cli(t, url, schema, "dlq", "list", "--output", "json"), "dlq list")
		require.NoError(t, json.Unmarshal([]byte(out), &listed), "dlq list --output json must print JSON: %s", out)
		return len(listed) == 1
	}, 10*time.Second, 50*time.Millisecond, "the failing job never showed up in dlq list")
	require.Equal(t, id, listed[0].ID)
	require.Equal(t, "cli.job", listed[0].Kind)
	require.JSONEq(t, `{"n":7}`, string(listed[0].Args))
	require.Len(t, listed[0].Errors, 1)
	require.Equal(t, "downstream is down", listed[0].Errors[0].Error)

	table := ok(t, cli(t, url, schema, "dlq", "list", "--kind", "cli.job"), "dlq list table")
	require.Contains(t, table, "downstream is down")
	show := ok(t, cli(t, url, schema, "dlq", "show", itoa(id)), "dlq show")
	require.Contains(t, show, `{"n": 7}`)
	require.Contains(t, show, "attempt 1")

	fails(t, cli(t, url, schema, "dlq", "requeue", itoa(id), "999999"), "requeue with an unknown ID", "not dead letters")
	require.Len(t, mustList(t, url, schema), 1, "a refused requeue must change nothing")

	healthy.Store(true)
	out := ok(t, cli(t, url, schema, "dlq", "requeue", itoa(id)), "dlq requeue")
	require.Contains(t, out, "requeued 1")
	select {
	case n := <-ran:
		require.Equal(t, 7, n)
	case <-time.After(10 * time.Second):
		t.Fatal("the requeued job did not run")
	}
	fails(t, cli(t, url, schema, "dlq", "requeue", itoa(id)), "requeue of a job that is not dead", "not dead letters")
	fails(t, cli(t, url, schema, "dlq", "show", "999999"), "show of an unknown ID", "no dead letter with ID 999999")
}

func mustList(t *testing.T, url, schema string, args ...string) []map[string]any {
	t.Helper()
	out := ok(t, cli(t, url, schema, append([]string{"dlq", "list", "--output", "json"}, args...)...), "dlq list")
	var list []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &list))
	return list
}

func itoa(id int64) string { return strconv.FormatInt(id, 10) }

// deadLetter puts one job of the given args into the dead-letter table.
func deadLetter(t *testing.T, b *pgqueue.PostgresBackend, args pgqueue.Args) int64 {
	t.Helper()
	ctx := context.Background()
	c, err := pgqueue.New(b, pgqueue.Config{})
	require.NoError(t, err)
	_, err = c.Enqueue(ctx, args, &pgqueue.EnqueueOptions{Queue: "dlq"})
	require.NoError(t, err)
	rows, err := b.Claim(ctx, pgqueue.ClaimParams{Queue: "dlq", Kinds: []string{args.Kind()}, Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.NoError(t, b.DeadLetter(ctx, rows[0].Ref(), pgqueue.AttemptError{Attempt: 1, Kind: "error", Error: "x"}))
	return rows[0].ID
}

func TestCLIPurgeNeedsYesAndRemovesOnlyTheSelection(t *testing.T) {
	t.Parallel()
	url, schema, b := setup(t)
	deadLetter(t, b, cliArgs{N: 1})
	deadLetter(t, b, cliArgs{N: 2})
	keep := deadLetter(t, b, otherArgs{})

	fails(t, cli(t, url, schema, "dlq", "purge", "--kind", "cli.job"), "purge without --yes", "would delete 2 dead letter(s)")
	require.Len(t, mustList(t, url, schema), 3, "purge without --yes must delete nothing")
	fails(t, cli(t, url, schema, "dlq", "purge"), "purge with no selection", "say which dead letters")
	fails(t, cli(t, url, schema, "dlq", "requeue", "--all"), "bulk requeue without --yes", "would requeue 3")

	out := ok(t, cli(t, url, schema, "dlq", "purge", "--kind", "cli.job", "--yes"), "purge --yes")
	require.Contains(t, out, "purged 2")
	left := mustList(t, url, schema)
	require.Len(t, left, 1, "only the selected kind is purged")
	require.EqualValues(t, keep, left[0]["id"])

	ok(t, cli(t, url, schema, "dlq", "purge", "--older-than", "1h", "--yes"), "purge --older-than")
	require.Len(t, mustList(t, url, schema), 1, "a dead letter from just now is not older than 1h")
	fails(t, cli(t, url, schema, "dlq", "purge", "--older-than", "soon", "--yes"), "bad --older-than", "neither a duration")
}

func TestCLIQueuePauseResumeAndStats(t *testing.T) {
	t.Parallel()
	url, schema, b := setup(t)
	ctx := context.Background()
	ran := make(chan int, 8)
	c, err := pgqueue.New(b, pgqueue.Config{PollInterval: 20 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, pgqueue.Register(c, pgqueue.WorkFunc[cliArgs](func(ctx context.Context, j *pgqueue.Job[cliArgs]) error {
		ran <- j.Args.N
		return nil
	})))
	require.NoError(t, c.Start(ctx))
	t.Cleanup(func() { _ = c.Stop(context.Background()) })

	fails(t, cli(t, url, schema, "queue", "pause", "default"), "pause of a queue without jobs", "rerun with --force")
	require.Contains(t, ok(t, cli(t, url, schema, "queue", "pause", "default", "--force"), "queue pause --force"), "paused")
	for i := range 3 {
		_, err := c.Enqueue(ctx, cliArgs{N: i}, nil)
		require.NoError(t, err)
	}
	_, err = c.Enqueue(ctx, cliArgs{N: 9}, &pgqueue.EnqueueOptions{Queue: "later", Delay: time.Hour})
	require.NoError(t, err)
	deadLetter(t, b, otherArgs{})
	select {
	case n := <-ran:
		t.Fatalf("job %d ran while its queue was paused", n)
	case <-time.After(300 * time.Millisecond):
	}

	var st pgqueue.Stats
	require.NoError(t, json.Unmarshal([]byte(ok(t, cli(t, url, schema, "stats", "--output", "json"), "stats")), &st))
	got := map[string]pgqueue.QueueStats{}
	for _, q := range st.Queues {
		got[q.Queue] = q
	}
	require.True(t, got["default"].Paused)
	require.Equal(t, int64(3), got["default"].Available.N)
	require.Equal(t, int64(1), got["later"].Scheduled.N)
	require.Equal(t, []pgqueue.KindCount{{Kind: "cli.other", Count: pgqueue.Count{N: 1}}}, st.Dead)
	text := ok(t, cli(t, url, schema, "stats"), "stats table")
	require.Contains(t, text, "QUEUE")
	require.Contains(t, text, "cli.other")

	require.Contains(t, ok(t, cli(t, url, schema, "queue", "resume", "default"), "queue resume"), "resumed")
	for range 3 {
		select {
		case <-ran:
		case <-time.After(10 * time.Second):
			t.Fatal("jobs did not run after the queue was resumed")
		}
	}
	require.Contains(t, ok(t, cli(t, url, schema, "queue", "resume", "default"), "second resume"), "was not paused")
	require.Eventually(t, func() bool {
		require.NoError(t, json.Unmarshal([]byte(ok(t, cli(t, url, schema, "stats", "-o", "json"), "stats")), &st))
		for _, q := range st.Queues {
			if q.Queue == "default" {
				return false
			}
		}
		return true
	}, 10*time.Second, 50*time.Millisecond, "an empty, resumed, unlimited queue must leave stats")
	fails(t, cli(t, url, schema, "queue", "pause", "no spaces"), "pause with a bad name", `invalid queue name: "no spaces"`)
}

func TestCLIJobsCancelAndRetry(t *testing.T) {
	t.Parallel()
	url, schema, b := setup(t)
	ctx := context.Background()
	c, err := pgqueue.New(b, pgqueue.Config{})
	require.NoError(t, err)
	id, err := c.Enqueue(ctx, cliArgs{N: 1}, &pgqueue.EnqueueOptions{Delay: time.Hour})
	require.NoError(t, err)
	require.Contains(t, ok(t, cli(t, url, schema, "jobs", "show", itoa(id)), "jobs show"), "scheduled")
	require.Contains(t, ok(t, cli(t, url, schema, "jobs", "retry", itoa(id)), "jobs retry"), "due now")
	require.Contains(t, ok(t, cli(t, url, schema, "jobs", "show", itoa(id)), "jobs show"), "available")
	require.Contains(t, ok(t, cli(t, url, schema, "jobs", "cancel", itoa(id)), "jobs cancel"), "cancelled")
	list := mustList(t, url, schema)
	require.Len(t, list, 1, "a cancelled job is visible in the dead-letter table")
	fails(t, cli(t, url, schema, "jobs", "cancel", itoa(id)), "cancel twice", "it is a dead letter (see `pgqueue dlq show")
	fails(t, cli(t, url, schema, "jobs", "cancel", "abc"), "cancel a non-number", "is not a job ID")
	fails(t, cli(t, url, schema, "jobs", "retry", "424242"), "retry an unknown ID", "job 424242 not found (completed jobs are kept only with a retention: Config.Retention)")
}

func TestCLIMigrate(t *testing.T) {
	t.Parallel()
	pool, schema := pgtest.NewSchema(t)
	_ = pool
	url := pgtest.URL(t)
	files, err := fs.Glob(pgqueue.Migrations(), "*.sql")
	require.NoError(t, err)
	latest := len(files)
	fails(t, cli(t, url, schema, "stats"), "stats on an unmigrated schema", "migrate up --schema")
	require.Contains(t, ok(t, cli(t, url, schema, "migrate", "up"), "migrate up"), fmt.Sprintf("version %d", latest))
	require.Equal(t, fmt.Sprintf("%d\n", latest), ok(t, cli(t, url, schema, "migrate", "version"), "migrate version"))
	var status []struct {
		Version int64 `json:"version"`
		Applied bool  `json:"applied"`
	}
	require.NoError(t, json.Unmarshal([]byte(ok(t, cli(t, url, schema, "migrate", "status", "-o", "json"), "migrate status")), &status))
	require.Len(t, status, latest)
	for _, st := range status {
		require.True(t, st.Applied, "migration %d must be applied", st.Version)
	}
	for v := latest - 1; v >= 0; v-- {
		fails(t, cli(t, url, schema, "migrate", "down"), "migrate down without --yes", fmt.Sprintf("would roll back version %d", v+1))
		require.Equal(t, fmt.Sprintf("%d\n", v+1), ok(t, cli(t, url, schema, "migrate", "version"), "migrate version"), "a refused down changes nothing")
		require.Contains(t, ok(t, cli(t, url, schema, "migrate", "down", "--yes"), "migrate down"), fmt.Sprintf("at version %d", v))
	}
	fails(t, cli(t, url, schema, "migrate", "down", "--yes"), "migrate down past zero", "nothing to roll back")
	sqlOut := ok(t, cli(t, url, schema, "migrate", "sql"), "migrate sql")
	require.Contains(t, sqlOut, "-- +goose Up")
	require.Contains(t, sqlOut, "CREATE TABLE pgqueue_jobs")
}

func TestCLIBadConnections(t *testing.T) {
	t.Parallel()
	fails(t, cli(t, "postgres://nobody@127.0.0.1:1/none?connect_timeout=2", "public", "stats"), "a database that is down", "cannot reach the database")
	fails(t, cli(t, "::not a url::", "public", "stats"), "a malformed URL", "bad database URL")
	r := cli(t, "", "public", "stats")
	fails(t, r, "no URL at all", "pass --database-url or set DATABASE_URL")
	fails(t, cli(t, "postgres://x@127.0.0.1:1/x", "public", "stats", "-o", "yaml"), "a bad --output", "--output must be table or json")
	help := ok(t, cli(t, "", "public", "dlq", "purge", "--help"), "help")
	require.Contains(t, help, "--yes")
}
