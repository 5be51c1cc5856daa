package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRotatedGivesEachSystemTheFirstTurnInTurn(t *testing.T) {
	systems := []system{{name: "a"}, {name: "b"}, {name: "c"}}
	want := []string{"abc", "bca", "cab", "abc"}
	for round, w := range want {
		var got strings.Builder
		for _, s := range rotated(systems, round) {
			got.WriteString(s.name)
		}
		if got.String() != w {
			t.Errorf("round %d runs the systems in the order %q, want %q", round, got.String(), w)
		}
	}
	if systems[0].name != "a" || systems[2].name != "c" {
		t.Errorf("rotated changed its argument: %v", systems)
	}
}

func TestMedianOfTakesEachFigureApart(t *testing.T) {
	rs := []result{
		{workload: "enqueue×8", system: "pgqueue", perSec: 30, redisCPU: 9, clientCPU: 1, cpu: true},
		{workload: "enqueue×8", system: "pgqueue", perSec: 10, redisCPU: 7, clientCPU: 3, cpu: true},
		{workload: "enqueue×8", system: "pgqueue", perSec: 20, redisCPU: 8, clientCPU: 2, cpu: true},
	}
	m := medianOf(rs)
	if m.perSec != 20 || m.redisCPU != 8 || m.clientCPU != 2 {
		t.Errorf("median of 3 rounds = %v jobs/s, Redis %vµs, client %vµs; want 20, 8, 2", m.perSec, m.redisCPU, m.clientCPU)
	}
	if even := medianOf(rs[:2]); even.perSec != 20 {
		t.Errorf("median of 30 and 10 jobs/s = %v, want their mean 20", even.perSec)
	}
}

func TestTableShowsMediansAndRatios(t *testing.T) {
	systems := []system{{name: "pgqueue"}, {name: "asynq"}}
	var results []result
	for _, x := range []struct {
		sys  string
		rate float64
	}{{"pgqueue", 100}, {"asynq", 50}, {"pgqueue", 300}, {"asynq", 100}, {"pgqueue", 200}, {"asynq", 400}} {
		results = append(results, result{workload: "drain", system: x.sys, perSec: x.rate})
	}
	var b bytes.Buffer
	writeTable(&b, systems, results, options{rounds: 3, rate: 200})
	out := b.String()
	for _, want := range []string{"200 jobs/s", "100 jobs/s", "2.00×", "median of 3 rounds"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q (pgqueue's median 200 against asynq's 100):\n%s", want, out)
		}
	}
}
