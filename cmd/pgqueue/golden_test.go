package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
)

var update = flag.Bool("update", false, "rewrite the CLI's golden files in testdata/ from this run")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "golden file missing; run go test -run %s -update ./cmd/pgqueue/", t.Name())
	require.Equal(t, string(want), got, "%s differs from the golden file; if the change is intended, rerun with -update and review the diff", path)
}

// placeholders replace the parts of a JSON value that differ per run.
var placeholders = map[string]string{
	"at": "<time>", "created_at": "<time>", "died_at": "<time>", "run_at": "<time>", "attempted_at": "<time>",
	"lease_until": "<time>", "applied_at": "<time>", "finished_at": "<time>", "claimed_by": "<client>", "sql": "<sql>",
}

// normalize parses JSON output, replaces the per-run values (times, the
// schema name, the client ID, the SQL text, and every key in extra) with
// placeholders, and prints it again with sorted keys.
func normalize(t *testing.T, out, schema string, extra map[string]string) string {
	t.Helper()
	out = strings.ReplaceAll(out, schema, "<schema>")
	var v any
	require.NoError(t, json.Unmarshal([]byte(out), &v), "not JSON: %s", out)
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, val := range x {
				if p, ok := extra[k]; ok && p == "<drop>" {
					delete(x, k)
				} else if p, ok := extra[k]; ok {
					x[k] = p
				} else if p, ok := placeholders[k]; ok && val != nil && val != "" {
					x[k] = p
				} else {
					x[k] = walk(val)
				}
			}
		case []any:
			for i := range x {
				x[i] = walk(x[i])
			}
		}
		return v
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	require.NoError(t, enc.Encode(walk(v)))
	return b.String()
}

// panicArgs is dead-lettered with a panic's stack in the golden test.
type panicArgs struct {
	Order int `json:"order"`
}

func (panicArgs) Kind() string { return "cli.panic" }

// TestCLIJSONGolden runs every command with -o json on one fresh schema,
// in an order that makes the IDs and states the same on every run, and
// pins each output in testdata/json/.
func TestCLIJSONGolden(t *testing.T) {
	t.Parallel()
	url, schema, b := setup(t)
	ctx := context.Background()
	run := func(name string, extra map[string]string, args ...string) {
		t.Helper()
		out := ok(t, cli(t, url, schema, append(args, "-o", "json")...), strings.Join(args, " "))
		golden(t, "json/"+name+".json", normalize(t, out, schema, extra))
	}

	run("migrate_status", nil, "migrate", "status")
	run("migrate_version", nil, "migrate", "version")
	run("migrate_up", nil, "migrate", "up")
	run("migrate_sql", nil, "migrate", "sql")

	c, err := pgqueue.New(b, pgqueue.Config{})
	require.NoError(t, err)
	waiting, err := c.Enqueue(ctx, cliArgs{N: 1}, &pgqueue.EnqueueOptions{Queue: "mail", Delay: time.Hour, Metadata: map[string]string{"tenant": "acme"}})
	require.NoError(t, err)
	require.EqualValues(t, 1, waiting, "the golden files assume a fresh schema's first ID")
	_, err = c.Enqueue(ctx, panicArgs{Order: 42}, &pgqueue.EnqueueOptions{Queue: "dlq", Metadata: map[string]string{"request_id": "r-1"}})
	require.NoError(t, err)
	rows, err := b.Claim(ctx, pgqueue.ClaimParams{Queue: "dlq", Kinds: []string{"cli.panic"}, Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, rows, 1)
	stack := "goroutine 7 [running]:\nmain.charge(...)\n\t/app/billing.go:42 +0x1d\nmain.main()\n\t/app/main.go:9 +0x25"
	require.NoError(t, b.DeadLetter(ctx, rows[0].Ref(), pgqueue.AttemptError{Attempt: 1, Kind: "panic", Error: "panic: card declined", Stack: stack}))
	dead := itoa(rows[0].ID)

	run("jobs_show", nil, "jobs", "show", "1")
	run("jobs_show_dead", nil, "jobs", "show", dead)
	run("dlq_list", nil, "dlq", "list")
	run("dlq_show", nil, "dlq", "show", dead)
	run("stats", map[string]string{"lag_ns": "<duration>"}, "stats")
	// A claim's fencing token is not the same on every run.
	token := map[string]string{"fencing_token": "<token>"}
	run("jobs_list", token, "jobs", "list")
	run("jobs_list_filtered", nil, "jobs", "list", "--state", "scheduled", "--queue", "mail", "--kind", cliArgs{}.Kind(),
		"--args", `{"n":1}`, "--meta", "tenant=acme", "--priority", "5", "--created-after", "1h", "--limit", "1")
	run("jobs_list_page", token, "jobs", "list", "--limit", "1")
	run("jobs_list_oldest_page2", token, "jobs", "list", "--limit", "1", "--order", "oldest", "--cursor", "djE6b2xkZXN0OjE")
	run("jobs_retry_bulk", nil, "jobs", "retry", "--queue", "mail", "--yes")
	run("queue_pause", nil, "queue", "pause", "mail")
	run("queue_resume", nil, "queue", "resume", "mail")
	run("jobs_retry", nil, "jobs", "retry", "1")
	run("jobs_cancel", nil, "jobs", "cancel", "1")
	run("dlq_requeue", nil, "dlq", "requeue", "1")
	run("dlq_purge", nil, "dlq", "purge", "--all", "--yes")
	_, err = c.Enqueue(ctx, cliArgs{N: 2}, &pgqueue.EnqueueOptions{Queue: "trash"})
	require.NoError(t, err)
	run("jobs_delete_bulk", nil, "jobs", "delete", "--queue", "trash", "--yes")
	// A job completed with a retention and an output, then a dead letter
	// with an output: jobs show and dlq show print what they recorded.
	kept, err := c.Enqueue(ctx, cliArgs{N: 4}, &pgqueue.EnqueueOptions{Queue: "kept"})
	require.NoError(t, err)
	rows, err = b.Claim(ctx, pgqueue.ClaimParams{Queue: "kept", Kinds: []string{cliArgs{}.Kind()}, Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, rows, 1)
	lost, err := b.CompleteRecorded(ctx, []pgqueue.Completion{{Ref: rows[0].Ref(), Output: json.RawMessage(`{"sent": 4}`), Keep: time.Hour}})
	require.NoError(t, err)
	require.Empty(t, lost)
	run("jobs_show_completed", token, "jobs", "show", itoa(kept))
	run("jobs_list_completed", token, "jobs", "list", "--state", "completed")
	_, err = c.Enqueue(ctx, panicArgs{Order: 43}, &pgqueue.EnqueueOptions{Queue: "dlq"})
	require.NoError(t, err)
	rows, err = b.Claim(ctx, pgqueue.ClaimParams{Queue: "dlq", Kinds: []string{"cli.panic"}, Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.NoError(t, b.DeadLetterRecorded(ctx, rows[0].Ref(), pgqueue.AttemptError{Attempt: 1, Kind: "error", Error: "half done"}, json.RawMessage(`{"charged": true}`)))
	run("dlq_show_output", nil, "dlq", "show", itoa(rows[0].ID))
	// A workflow: listed and shown, then cancelled (with --yes) and
	// retried from its cancelled tasks.
	wf := pgqueue.NewWorkflow("onboard")
	account := wf.Add(cliArgs{N: 10}, &pgqueue.EnqueueOptions{Queue: "wf"}, pgqueue.Named("account"))
	wf.Add(cliArgs{N: 11}, &pgqueue.EnqueueOptions{Queue: "wf"}, pgqueue.Named("welcome"), pgqueue.After(account))
	flow, err := c.EnqueueWorkflow(ctx, wf)
	require.NoError(t, err)
	require.EqualValues(t, 1, flow.ID, "the golden files assume the schema's first workflow")
	run("workflows_list", nil, "workflows", "list")
	run("workflows_show", nil, "workflows", "show", itoa(flow.ID))
	run("workflows_cancel", nil, "workflows", "cancel", itoa(flow.ID), "--yes")
	run("workflows_retry", nil, "workflows", "retry", itoa(flow.ID))
	info := pgqueue.ClientInfo{ID: "worker-1", Host: "web-1", PID: 4242, Version: "v1.2.3", Queues: map[string]int{"default": 100, "mail": 5}, Periodic: []string{"nightly-report"}}
	require.NoError(t, b.RegisterClient(ctx, info))
	run("clients", map[string]string{"started_at": "<time>", "last_seen": "<time>"}, "clients")
	require.NoError(t, b.UnregisterClient(ctx, info.ID))
	tick := time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)
	_, won, err := b.EnqueuePeriodicNext(ctx, "nightly-report", tick, tick.Add(24*time.Hour), pgqueue.InsertParams{Kind: cliArgs{}.Kind(), Queue: "periodic", Priority: pgqueue.DefaultPriority, Args: json.RawMessage(`{"n":3}`), MaxAttempts: 1})
	require.NoError(t, err)
	require.True(t, won)
	run("periodic_list", nil, "periodic", "list")
	run("migrate_down", nil, "migrate", "down", "--yes")
	// revision, revision_time and modified are there only when the build
	// had VCS information; TestCLIVersion checks them.
	run("version", map[string]string{"version": "<version>", "revision": "<drop>", "revision_time": "<drop>", "go_version": "<go>", "modified": "<drop>"}, "version")
	run("bench_burndown", map[string]string{"seconds": "<n>", "jobs_per_sec": "<n>", "jobs": "<n>"}, "bench", "burndown", "--jobs", "200")
}

// TestCLIErrorsGolden runs every bad input of issue 13 and pins, in
// testdata/errors.golden, its exit code and its one error line (text, and
// JSON on stderr with -o json).
func TestCLIErrorsGolden(t *testing.T) {
	t.Parallel()
	url, schema, _ := setup(t)
	cases := [][]string{
		{"jobs", "frobnicate", "1"},
		{"dlq", "lst"},
		{"dlq", "lst", "-o", "json"},
		{"frob"},
		{"--version", "extra"},
		{"version", "extra"},
		{"stats", "extra"},
		{"jobs", "show"},
		{"jobs", "show", "1", "2"},
		{"jobs", "show", "abc"},
		{"jobs", "show", "424242"},
		{"jobs", "show", "424242", "-o", "json"},
		{"jobs", "cancel", "424242"},
		{"queue", "pause", "bad name!"},
		{"queue", "pause", "bad name!", "-o", "json"},
		{"queue", "pause", "nosuchqueue"},
		{"queue", "pause", "nosuchqueue", "-o", "json"},
		{"queue", "resume"},
		{"migrate", "down"},
		{"migrate", "down", "-o", "json"},
		{"migrate", "sideways"},
		{"dlq", "list", "--limit", "0"},
		{"dlq", "purge", "--all"},
		{"dlq", "purge", "--all", "-o", "json"},
		{"dlq", "requeue"},
		{"dlq", "show", "7"},
		{"stats", "--bogus", "-o", "json"},
		{"stats", "-o", "yaml"},
		{"bench", "burndown", "--jobs", "0"},
		{"bench", "sprint"},
		{"jobs", "list", "--state", "finished"},
		{"jobs", "list", "--args", "{"},
		{"jobs", "list", "--meta", "tenant"},
		{"jobs", "list", "--cursor", "zzz", "-o", "json"},
		{"jobs", "list", "--limit", "5000"},
		{"jobs", "delete"},
		{"jobs", "delete", "--all"},
		{"jobs", "cancel", "--queue", "mail", "-o", "json"},
		{"jobs", "retry", "--state", "dead", "--yes"},
		{"workflows", "show", "424242"},
		{"workflows", "show", "424242", "-o", "json"},
		{"workflows", "retry", "424242"},
		{"workflows", "list", "--limit", "5000"},
	}
	var b strings.Builder
	for _, args := range cases {
		r := cli(t, url, schema, args...)
		quoted := make([]string, len(args))
		for i, a := range args {
			quoted[i] = a
			if strings.ContainsAny(a, " !'") {
				quoted[i] = "'" + a + "'"
			}
		}
		what := "pgqueue " + strings.Join(quoted, " ")
		require.Equal(t, 1, r.code, "%s: exit code; stdout %q stderr %q", what, r.stdout, r.stderr)
		require.Empty(t, r.stdout, "%s: an error prints nothing on stdout", what)
		require.Equal(t, 1, strings.Count(r.stderr, "\n"), "%s: one error line, got %q", what, r.stderr)
		if strings.Contains(strings.Join(args, " "), "-o json") {
			var e struct{ Error, Code string }
			require.NoError(t, json.Unmarshal([]byte(r.stderr), &e), "%s: JSON error", what)
			require.NotEmpty(t, e.Error)
			require.NotEmpty(t, e.Code)
		}
		fmt.Fprintf(&b, "$ %s\nexit %d\n%s\n", what, r.code, strings.ReplaceAll(r.stderr, schema, "<schema>"))
	}
	// An empty --schema, outside the loop's --schema.
	r := cli(t, url, "", "stats")
	require.Equal(t, 1, r.code)
	fmt.Fprintf(&b, "$ pgqueue --schema '' stats\nexit %d\n%s\n", r.code, r.stderr)
	golden(t, "errors.golden", b.String())
}

// TestCLIEscapesJobDataOnTerminals dead-letters a job whose kind, error,
// args and metadata carry terminal escape sequences, and checks that no
// table or show view prints them raw.
func TestCLIEscapesJobDataOnTerminals(t *testing.T) {
	t.Parallel()
	url, schema, b := setup(t)
	ctx := context.Background()
	evil := "\x1b]0;pwned\x07"
	c, err := pgqueue.New(b, pgqueue.Config{})
	require.NoError(t, err)
	_, err = c.Enqueue(ctx, evilArgs{Note: "\u009b31m" + evil}, &pgqueue.EnqueueOptions{Queue: "dlq", Metadata: map[string]string{"k" + evil: "v\u202e"}})
	require.NoError(t, err)
	rows, err := b.Claim(ctx, pgqueue.ClaimParams{Queue: "dlq", Kinds: []string{evilArgs{}.Kind()}, Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.NoError(t, b.DeadLetter(ctx, rows[0].Ref(), pgqueue.AttemptError{Attempt: 1, Kind: "panic", Error: "\x1b[31mred" + evil, Stack: "line1" + evil + "\n\tline2"}))
	id := itoa(rows[0].ID)
	for _, args := range [][]string{{"dlq", "list"}, {"dlq", "show", id}, {"jobs", "show", id}, {"stats"}} {
		out := ok(t, cli(t, url, schema, args...), strings.Join(args, " "))
		for _, bad := range []string{"\x1b", "\x07", "\u009b", "\u202e"} {
			require.NotContains(t, out, bad, "pgqueue %v printed %q raw:\n%s", args, bad, out)
		}
		require.Contains(t, out, `\x1b]0;pwned\x07`, "pgqueue %v must show the escape visibly", args)
	}
	show := ok(t, cli(t, url, schema, "dlq", "show", id), "dlq show")
	require.Contains(t, show, "      line1\\x1b]0;pwned\\x07\n      \tline2", "the stack is printed in full, indented, escaped")
	require.Contains(t, show, `metadata:  k\x1b]0;pwned\x07=v\u202e`)
}

type evilArgs struct {
	Note string `json:"note"`
}

func (evilArgs) Kind() string { return "evil\x1b]0;pwned\x07" }

func TestCLIHelpKeepsItsPromises(t *testing.T) {
	t.Parallel()
	cancel := ok(t, cli(t, "", "public", "jobs", "cancel", "--help"), "jobs cancel --help")
	require.Contains(t, cancel, "waiting or running")
	list := ok(t, cli(t, "", "public", "dlq", "list", "--help"), "dlq list --help")
	require.Regexp(t, regexp.MustCompile(fmt.Sprintf(`--limit int +at most this many .*\(default %d\)`, pgqueue.DefaultDeadLimit)), list)
	require.Contains(t, ok(t, cli(t, "", "public", "migrate", "down", "--help"), "migrate down --help"), "--yes")
	require.Contains(t, ok(t, cli(t, "", "public", "queue", "pause", "--help"), "queue pause --help"), "--force")
}

// TestCLIVersion checks `pgqueue version` and `pgqueue --version` against
// the binary's build info as `go version -m` reads it.
func TestCLIVersion(t *testing.T) {
	t.Parallel()
	info, err := exec.Command("go", "version", "-m", binary).Output()
	require.NoError(t, err)
	field := func(re string) string {
		m := regexp.MustCompile(re).FindStringSubmatch(string(info))
		if m == nil {
			return ""
		}
		return m[1]
	}
	modVersion := field(`(?m)^\s+mod\s+github.com/pgqueue/pgqueue\s+(\S+)`)
	revision := field(`(?m)^\s+build\s+vcs.revision=(\S+)`)
	goVersion := field(`^\S+: (go\S+)`)
	require.NotEmpty(t, modVersion)
	require.NotEmpty(t, goVersion)

	line := ok(t, cli(t, "", "public", "--version"), "--version")
	require.Equal(t, line, ok(t, cli(t, "", "public", "version"), "version"), "--version and version print the same")
	require.True(t, strings.HasPrefix(line, "pgqueue "+modVersion+" "), "module version first: %q", line)
	require.True(t, strings.HasSuffix(line, " "+goVersion+"\n"), "Go version last: %q", line)
	var v versionInfo
	require.NoError(t, json.Unmarshal([]byte(ok(t, cli(t, "", "public", "version", "-o", "json"), "version -o json")), &v))
	require.Equal(t, modVersion, v.Version)
	require.Equal(t, goVersion, v.GoVersion)
	require.Equal(t, revision, v.Revision)
	if revision != "" {
		require.Contains(t, line, "(revision "+revision)
		head, err := exec.Command("git", "rev-parse", "HEAD").Output()
		require.NoError(t, err)
		require.Equal(t, strings.TrimSpace(string(head)), revision, "the revision is the checkout's HEAD")
	} else {
		t.Logf("no VCS revision stamped (a git worktree, or no git): checked the module and Go versions only")
	}
}
