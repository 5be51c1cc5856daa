package servicetest_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue/internal/pgtest"
	"github.com/pgqueue/pgqueue/internal/redistest"
	"github.com/pgqueue/pgqueue/internal/servicetest"
)

func TestMain(m *testing.M) { os.Exit(servicetest.Run(m)) }

// probe is a testing.TB that records Fatal and Skip instead of ending the
// real test, so a test can see what a Finder does to the tests that use it.
type probe struct {
	testing.TB
	mu            sync.Mutex
	fatal, skip   string
	fataled, skpd bool
}

func (p *probe) Helper() {}
func (p *probe) Fatal(args ...any) {
	p.mu.Lock()
	p.fatal, p.fataled = fmt.Sprint(args...), true
	p.mu.Unlock()
	runtime.Goexit()
}
func (p *probe) Fatalf(format string, args ...any) { p.Fatal(fmt.Sprintf(format, args...)) }
func (p *probe) Skip(args ...any) {
	p.mu.Lock()
	p.skip, p.skpd = fmt.Sprint(args...), true
	p.mu.Unlock()
	runtime.Goexit()
}
func (p *probe) Skipf(format string, args ...any) { p.Skip(fmt.Sprintf(format, args...)) }

// observe runs f.URL on a probe and returns the URL and the probe.
func observe(t *testing.T, f *servicetest.Finder) (string, *probe) {
	t.Helper()
	p := &probe{TB: t}
	var url string
	done := make(chan struct{})
	go func() {
		defer close(done)
		url = f.URL(p)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("Finder.URL did not return")
	}
	return url, p
}

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func randomName(prefix string) string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// withDatabase returns url with its database path replaced.
func withDatabase(t *testing.T, url, db string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(url)
	require.NoError(t, err)
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, db)
}

func adminConn(t *testing.T) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), pgtest.URL(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func TestUnusablePostgresURLFailsEvenOutsideCI(t *testing.T) {
	t.Parallel()
	for _, url := range []string{
		"postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2", // nothing listens
		"postgres://no_such_role_pgqueue@127.0.0.1:5432/test?sslmode=disable",    // refused login
		"::not a url::",
	} {
		f := pgtest.NewFinder()
		f.Getenv = env(map[string]string{pgtest.EnvURL: url}) // CI unset
		f.Skips = &servicetest.SkipLog{}
		got, p := observe(t, f)
		require.True(t, p.fataled, "%s: an unusable URL must fail the test, got URL %q skip %q", url, got, p.skip)
		require.False(t, p.skpd)
		require.Contains(t, p.fatal, pgtest.EnvURL+"=")
		require.Contains(t, p.fatal, "is set but unusable")
		require.Empty(t, f.Skips.Summary(), "a failure is not a skip")
	}
}

func TestMissingPostgresDatabaseIsCreated(t *testing.T) {
	t.Parallel()
	admin := adminConn(t)
	db := randomName("pgqueue_st_")
	t.Cleanup(func() {
		_, err := admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)")
		require.NoError(t, err)
	})
	url := withDatabase(t, pgtest.URL(t), db)
	f := pgtest.NewFinder()
	f.Getenv = env(map[string]string{pgtest.EnvURL: url})
	got, p := observe(t, f)
	require.False(t, p.fataled, "a missing database must be created, got: %s", p.fatal)
	require.Equal(t, url, got)
	var exists bool
	require.NoError(t, admin.QueryRow(context.Background(), "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", db).Scan(&exists))
	require.True(t, exists, "database %s was not created", db)
}

func TestMissingPostgresDatabaseThatCannotBeCreatedNamesTheCreatedbCommand(t *testing.T) {
	t.Parallel()
	admin := adminConn(t)
	ctx := context.Background()
	role, db := randomName("pgqueue_st_role_"), randomName("pgqueue_st_")
	_, err := admin.Exec(ctx, "CREATE ROLE "+pgx.Identifier{role}.Sanitize()+" LOGIN NOCREATEDB")
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := admin.Exec(context.Background(), "DROP ROLE "+pgx.Identifier{role}.Sanitize())
		require.NoError(t, err)
	})
	cfg, err := pgx.ParseConfig(pgtest.URL(t))
	require.NoError(t, err)
	url := fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", role, cfg.Host, cfg.Port, db)

	f := pgtest.NewFinder()
	f.Getenv = env(map[string]string{pgtest.EnvURL: url})
	_, p := observe(t, f)
	require.True(t, p.fataled, "a database the role may not create must fail the test")
	want := fmt.Sprintf("create it with: createdb -h %s -p %d -U %s %s", cfg.Host, cfg.Port, role, db)
	require.Contains(t, p.fatal, want)
	require.Contains(t, p.fatal, "permission denied")
}

func TestUnusableRedisURLFailsWithWhatToChange(t *testing.T) {
	t.Parallel()
	for url, want := range map[string]string{
		"redis://127.0.0.1:1/0":     "connection refused",
		"redis://127.0.0.1:6379/99": "the server has no database 99 (it has 16",
		"nonsense://x":              "is set but unusable",
	} {
		if strings.Contains(url, ":6379") {
			// Point at the test Redis, wherever it is.
			real := redistest.Options(t, "probe")
			url = fmt.Sprintf("redis://%s/99", real.Addr)
		}
		f := redistest.NewFinder()
		f.Getenv = env(map[string]string{redistest.EnvURL: url})
		_, p := observe(t, f)
		require.True(t, p.fataled, "%s must fail the test", url)
		require.Contains(t, p.fatal, want, url)
		require.Contains(t, p.fatal, redistest.EnvURL+"=")
	}
}

func TestNoServiceSkipsWithCountedReasonOrFailsUnderCI(t *testing.T) {
	t.Parallel()
	newFinder := func(vars map[string]string) *servicetest.Finder {
		return &servicetest.Finder{
			Name: "Widget", Local: "localhost:1", EnvVar: "WIDGET_URL", LocalURL: "widget://localhost:1",
			Ping:      func(string) error { return errors.New("connection refused") },
			Container: func() (string, error) { return "", errors.New("no Docker") },
			Getenv:    env(vars),
			Skips:     &servicetest.SkipLog{},
		}
	}
	f := newFinder(nil)
	_, p := observe(t, f)
	require.True(t, p.skpd, "with nothing configured and CI unset the test is skipped")
	require.Contains(t, p.skip, "no Widget for tests: set WIDGET_URL")
	_, _ = observe(t, f) // a second test skipped for the same reason
	require.Equal(t, "servicetest: 2 test(s) skipped; 2: "+p.skip, f.Skips.Summary())
	var out strings.Builder
	servicetest.PrintSummary(&out, f.Skips)
	require.Contains(t, out.String(), "servicetest: 2 test(s) skipped")

	ci := newFinder(map[string]string{"CI": "true"})
	_, p = observe(t, ci)
	require.True(t, p.fataled, "CI=true turns the skip into a failure")
	require.Contains(t, p.fatal, "CI=true")
	require.Empty(t, ci.Skips.Summary())
}

func TestRedact(t *testing.T) {
	t.Parallel()
	require.Equal(t, "postgres://u:xxxxx@h/db", servicetest.Redact("postgres://u:secret@h/db"))
	require.Equal(t, "postgres://u@h/db", servicetest.Redact("postgres://u@h/db"))
	require.Equal(t, "redis://:xxxxx@h:6379/0", servicetest.Redact("redis://:pw@h:6379/0"))
	require.Equal(t, "not a url", servicetest.Redact("not a url"))
}
