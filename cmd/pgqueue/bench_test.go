package main

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue/internal/pgtest"
)

// jsonResults parses the JSON lines that end bench's output.
func jsonResults(t *testing.T, out string) []map[string]any {
	t.Helper()
	var rs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var r map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &r), "bench --json line %q", line)
		rs = append(rs, r)
	}
	require.NotEmpty(t, rs, "bench --json printed no JSON lines:\n%s", out)
	return rs
}

func TestCLIBenchModesReportResults(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	for _, tc := range []struct {
		args  []string
		modes []string
	}{
		{[]string{"burndown", "--jobs", "500"}, []string{"burndown"}},
		{[]string{"continuous", "--duration", "1s"}, []string{"continuous"}},
		{[]string{"latency", "--rate", "100", "--duration", "500ms"}, []string{"latency"}},
		{[]string{"insert", "--tx-jobs", "40", "--jobs", "500", "--notify-debounce", "-1ms"}, []string{"insert", "insert", "insert"}},
		{[]string{"insert", "--tx-jobs", "40", "--jobs", "500"}, []string{"insert", "insert", "insert"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			out := ok(t, cli(t, url, "public", append([]string{"bench"}, append(tc.args, "--json")...)...), "bench "+tc.args[0])
			rs := jsonResults(t, out)
			require.Len(t, rs, len(tc.modes), "one JSON result per measurement:\n%s", out)
			for i, r := range rs {
				require.Equal(t, tc.modes[i], r["mode"])
				require.Equal(t, "pgqueue", r["system"])
				require.Greater(t, r["jobs_per_sec"], 0.0, "a bench result must report a positive rate: %v", r)
			}
			if tc.args[0] == "latency" {
				for _, k := range []string{"p50_ms", "p99_ms", "after_commit_p50_ms", "commit_p50_ms"} {
					require.Greater(t, rs[0][k], 0.0, "latency must report %s: %v", k, rs[0])
				}
			}
		})
	}
}

func TestCLIBenchSoakWritesSamples(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := ok(t, cli(t, pgtest.URL(t), "public", "bench", "soak", "--duration", "3s", "--interval", "500ms",
		"--hold-from", "1s", "--hold-for", "1s", "--out", dir), "bench soak")
	require.Contains(t, out, "soak: first minute")
	f, err := os.Open(filepath.Join(dir, "soak.csv"))
	require.NoError(t, err)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(rows), 5, "a header and a sample every 500ms for 3s")
	require.Equal(t, "elapsed_s", rows[0][0])
	var held bool
	for _, r := range rows[1:] {
		held = held || r[len(r)-1] == "true"
	}
	require.True(t, held, "some samples must be taken while the horizon is held:\n%v", rows)
}

// Bad flags are refused before bench connects: against a database that
// is down, the error is still about the flag.
func TestCLIBenchRefusesBadFlagsBeforeTouchingTheDatabase(t *testing.T) {
	t.Parallel()
	down := "postgres://nobody@127.0.0.1:1/none?connect_timeout=2"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"burndown", "--jobs", "0"}, "--jobs must be positive"},
		{[]string{"continuous", "--producers", "0"}, "--duration, --producers and --batch must be positive"},
		{[]string{"latency", "--rate", "-1"}, "--rate and --duration must be positive"},
		{[]string{"insert", "--goroutines", "0"}, "--tx-jobs, --jobs and --goroutines must be positive"},
		{[]string{"soak", "--interval", "0s"}, "--duration and --interval must be positive"},
	} {
		fails(t, cli(t, down, "public", append([]string{"bench"}, tc.args...)...), "bench "+strings.Join(tc.args, " "), tc.want)
	}
	fails(t, cli(t, down, "public", "bench", "burndown", "--jobs", "10"), "bench against a database that is down", "cannot reach the database")
}
