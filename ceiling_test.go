package pgqueue_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
	"github.com/pgqueue/pgqueue/bench"
	"github.com/pgqueue/pgqueue/internal/pgtest"
)

// ceilingBatch is the claim size of the ceiling scripts: about what the
// default client claims during a drain (100 workers, and up to 800 claimed
// ahead while the jobs finish fast; claims of at least half that: 650 to
// 750 rows per claim, measured).
const ceilingBatch = 700

// renderCeiling fills a bench/ceiling template with the statements
// rendered for schema, pgbench variables in place of their parameters.
func renderCeiling(t *testing.T, file, schema string) string {
	t.Helper()
	plan, claim, complete, err := pgqueue.CeilingStatements(schema)
	require.NoError(t, err)
	// pgbench takes a statement on one line: drop the comments, then join.
	flat := func(s string) string {
		var code []string
		for _, line := range strings.Split(s, "\n") {
			if i := strings.Index(line, "--"); i >= 0 {
				line = line[:i]
			}
			code = append(code, line)
		}
		return strings.Join(strings.Fields(strings.Join(code, " ")), " ")
	}
	claim = strings.NewReplacer("$1", ":queue", "$2", ":kinds", "$3", ":batch", "$4", ":lease", "$5", ":client").Replace(claim)
	complete = strings.NewReplacer("$1", ":ids", "$2", ":tokens").Replace(complete)
	tmpl, err := os.ReadFile(filepath.Join("bench", "ceiling", file))
	require.NoError(t, err)
	return strings.NewReplacer("{{claim_plan}}", flat(plan), "{{claim}}", flat(claim), "{{complete}}", flat(complete),
		"{{jobs}}", pgx.Identifier{schema, "pgqueue_jobs"}.Sanitize()).Replace(string(tmpl))
}

// TestPgbenchCeiling measures, in one run, the rows per second Postgres
// allows for pgqueue's claim SQL driven by pgbench (claim only, claim and
// delete in one transaction, and the client's pattern), and pgqueue's own
// burndown at default settings beside them. It only reports (speed is
// never asserted in a test); run it with PGQUEUE_CEILING=1.
func TestPgbenchCeiling(t *testing.T) {
	if os.Getenv("PGQUEUE_CEILING") == "" {
		t.Skip("the claim ceiling: set PGQUEUE_CEILING=1 to run the pgbench scripts of bench/ceiling (needs pgbench)")
	}
	pgbench, err := exec.LookPath("pgbench")
	require.NoError(t, err, "pgbench must be on PATH (Debian: postgresql-client)")
	pool, schema := pgtest.Migrated(t)
	ctx := context.Background()
	jobs := pgx.Identifier{schema, "pgqueue_jobs"}.Sanitize()
	const fill, seconds = 600000, 5
	refill := func() {
		_, err := pool.Exec(ctx, "TRUNCATE "+jobs)
		require.NoError(t, err)
		_, err = pool.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (queue, kind, args, max_attempts) SELECT 'default', 'bench.noop', jsonb_build_object('seq', g), 25 FROM generate_series(1, %d) g`, jobs, fill))
		require.NoError(t, err)
		_, err = pool.Exec(ctx, "VACUUM ANALYZE "+jobs)
		require.NoError(t, err)
	}
	count := func(where string) int64 {
		var n int64
		require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM "+jobs+" WHERE "+where).Scan(&n))
		return n
	}
	cfg := pool.Config().ConnConfig
	dir := t.TempDir()
	results := map[string]float64{}
	for _, script := range []string{"claim_only.sql", "claim_delete.sql", "pgqueue_pattern.sql"} {
		path := filepath.Join(dir, script)
		require.NoError(t, os.WriteFile(path, []byte(renderCeiling(t, script, schema)), 0o644))
		refill()
		cmd := exec.Command(pgbench, "-n", "-M", "prepared", "-c", "2", "-j", "2", "-T", fmt.Sprint(seconds), "-f", path,
			"-D", "queue=default", "-D", "kinds={bench.noop}", "-D", fmt.Sprintf("batch=%d", ceilingBatch),
			"-D", "lease=30000000", "-D", "client=ceiling",
			"-h", cfg.Host, "-p", fmt.Sprint(cfg.Port), "-U", cfg.User, cfg.Database)
		cmd.Env = append(os.Environ(), "PGPASSWORD="+cfg.Password)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "pgbench %s:\n%s", script, out)
		moved := fill - count("state = 'available'")
		results[script] = float64(moved) / seconds
		t.Logf("ceiling: %-20s %8.0f rows/s (%d rows in %ds, batch %d, 2 clients)", script, results[script], moved, seconds, ceilingBatch)
	}

	_, err = pool.Exec(ctx, "TRUNCATE "+jobs)
	require.NoError(t, err)
	sys, err := bench.Pgqueue("pgqueue", pool, pgqueue.PostgresOptions{Schema: schema}, pgqueue.Config{})
	require.NoError(t, err)
	bctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	res, err := bench.Burndown(bctx, sys, 100000)
	require.NoError(t, err)
	t.Logf("ceiling: pgqueue burndown %8.0f jobs/s (100,000 jobs, default config); %.0f%% of the pgqueue_pattern ceiling, %.0f%% of claim_delete",
		res.JobsPerSec, 100*res.JobsPerSec/results["pgqueue_pattern.sql"], 100*res.JobsPerSec/results["claim_delete.sql"])
}
