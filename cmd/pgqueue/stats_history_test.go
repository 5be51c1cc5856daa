package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgqueue/pgqueue"
)

// statsBuckets returns a histogram of ds.
func statsBuckets(ds ...time.Duration) pgqueue.StatsBuckets {
	var b pgqueue.StatsBuckets
	for _, d := range ds {
		b.Observe(d)
	}
	return b
}

// TestCLIStatsHistoryGolden writes fixed per-minute rows through the
// backend's StatsRecorder, as clients would, and pins `pgqueue stats
// --history` as a table and as JSON, per minute and per 5-minute step,
// for every queue and for one.
func TestCLIStatsHistoryGolden(t *testing.T) {
	t.Parallel()
	url, schema, b := setup(t)
	ctx := context.Background()
	base := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	rows := []pgqueue.StatsRollup{
		{Minute: base, Queue: "mail", Kind: "send", Completed: 40, Failed: 2,
			Run: statsBuckets(append(repeat(30*time.Millisecond, 40), time.Second, 3*time.Second)...), Wait: statsBuckets(repeat(2*time.Millisecond, 42)...)},
		{Minute: base, Queue: "sms", Kind: "text", Completed: 10, Dead: 1, Run: statsBuckets(repeat(300*time.Microsecond, 11)...),
			Wait: statsBuckets(repeat(400*time.Millisecond, 11)...)},
		{Minute: base.Add(time.Minute), Queue: "mail", Kind: "send", Completed: 5, Run: statsBuckets(repeat(90*time.Second, 5)...), Wait: statsBuckets(repeat(20*time.Minute, 5)...)},
		{Minute: base.Add(3 * time.Minute), Queue: "sms", Kind: "text", Cancelled: 2, LeaseLost: 1},
		{Minute: base.Add(6 * time.Minute), Queue: "mail", Kind: "digest", Completed: 1, Run: statsBuckets(2 * time.Hour), Wait: statsBuckets(0)},
	}
	require.NoError(t, b.RecordStats(ctx, rows, pgqueue.DefaultStatsRetention))
	until := base.Add(10 * time.Minute).Format(time.RFC3339)

	table := ok(t, cli(t, url, schema, "stats", "--history", "10m", "--until", until), "stats --history")
	golden(t, "stats_history.golden", table)
	steps := ok(t, cli(t, url, schema, "stats", "--history", "10m", "--until", until, "--step", "5m", "--queue", "mail"), "stats --history --step --queue")
	golden(t, "stats_history_steps.golden", steps)
	// Nothing in the JSON depends on the run: the rows and times are fixed.
	out := ok(t, cli(t, url, schema, "stats", "--history", "10m", "--until", until, "--step", "5m", "-o", "json"), "stats --history -o json")
	golden(t, "json/stats_history.json", out)

	fails(t, cli(t, url, schema, "stats", "--history", "10m", "--step", "90s"), "a step that is not whole minutes", "whole number of minutes")
	fails(t, cli(t, url, schema, "stats", "--step", "5m"), "--step without --history", "--step needs --history")
	fails(t, cli(t, url, schema, "stats", "--history", "-1h"), "a negative history", "--history must be positive")
	fails(t, cli(t, url, schema, "stats", "--history", "1h", "--until", "yesterday"), "a bad --until", "not an RFC 3339 time")
}

func repeat(d time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}
