package main

import (
	"strings"
	"testing"

	"github.com/pgqueue/pgqueue/bench"
)

func TestWriteTable(t *testing.T) {
	systems := []bench.System{{Name: "pgqueue"}, {Name: "river(bench settings)"}, {Name: "river(defaults)"}}
	rs := []result{
		{Result: bench.Result{Mode: "burndown", System: "pgqueue", JobsPerSec: 30000}},
		{Result: bench.Result{Mode: "burndown", System: "river(bench settings)", JobsPerSec: 20000}},
		{Result: bench.Result{Mode: "burndown", System: "river(defaults)", JobsPerSec: 1000}},
		{Result: bench.Result{Mode: "latency", Variant: "200/s", System: "pgqueue", P50ms: 1, P99ms: 4}},
		{Result: bench.Result{Mode: "latency", Variant: "200/s", System: "river(bench settings)", P50ms: 2, P99ms: 8}},
		// river(defaults) failed its latency run: no result, no ratio.
	}
	var b strings.Builder
	writeTable(&b, options{rounds: 1, rate: 200}, systems, rs)
	out := b.String()
	for _, want := range []string{
		"ratio vs river(bench settings)",
		"1.50×", "30.00×", // burndown: pgqueue ÷ River
		"p50 1.00 / p99 4.00 ms", "0.50× / 0.50×", // latency: lower is better
		"no result",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[1], "burndown") || !strings.HasPrefix(lines[2], "latency/200/s") {
		t.Errorf("rows out of order:\n%s", out)
	}
}
