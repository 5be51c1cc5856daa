package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/pgqueue/pgqueue/internal/rediscluster"
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

func TestClusterTableShowsMedianRatesAndTheBusiestPrimarysCapacity(t *testing.T) {
	results := map[int]map[string][]result{1: {}, 3: {}}
	add := func(primaries int, rate, busiest float64) {
		results[primaries]["drain"] = append(results[primaries]["drain"], result{workload: "drain", perSec: rate, primaryCPU: []float64{busiest / 2, busiest}})
	}
	add(1, 100, 30)
	add(1, 120, 20)
	add(1, 110, 25)
	add(3, 150, 10)
	add(3, 160, 8)
	add(3, 170, 12)
	var b bytes.Buffer
	writeClusterTable(&b, results, 3)
	out := b.String()
	for _, want := range []string{"110 jobs/s", "160 jobs/s", "1.45×", "25.0µs", "10.0µs", "2.50×", "Median of 3 rounds"} {
		if !strings.Contains(out, want) {
			t.Errorf("cluster table lacks %q (medians: 110 vs 160 jobs/s, busiest primary 25 vs 10 µs per job):\n%s", want, out)
		}
	}

	results[3]["drain"][1].primaryCPU = nil
	b.Reset()
	writeClusterTable(&b, results, 3)
	if out := b.String(); strings.Contains(out, "2.50×") || !strings.Contains(out, "?") {
		t.Errorf("a round whose CPU reading failed must leave the capacity unknown, not a median of what remains:\n%s", out)
	}
}

func TestPrimaryCPUNeedsClusterAndAShareOfACore(t *testing.T) {
	for _, args := range [][]string{
		{"--primary-cpu", "0.25"},
		{"--cluster", "--primary-cpu", "-1"},
		{"--cluster", "--primary-cpu", "100"},
	} {
		var stderr bytes.Buffer
		if _, err := parseFlags(args, &stderr); err == nil || !strings.Contains(err.Error(), "--primary-cpu") {
			t.Errorf("parseFlags(%q) = %v, want an error naming --primary-cpu", args, err)
		}
	}
	o, err := parseFlags([]string{"--cluster", "--primary-cpu", "0.25"}, new(bytes.Buffer))
	if err != nil || o.primaryCPU != 0.25 {
		t.Errorf("parseFlags(--cluster --primary-cpu 0.25) = %v, %v; want a quarter of a core", o.primaryCPU, err)
	}
}

func TestBalancedQueuesFallEvenlyOnThePrimaries(t *testing.T) {
	for _, n := range []int{3, 12, 13} {
		queues := balancedQueues("pgqcmp-test", n, 3)
		if len(queues) != n {
			t.Fatalf("balancedQueues(%d) gave %d queues", n, len(queues))
		}
		per := make([]int, 3)
		for _, q := range queues {
			per[rediscluster.KeySlot("{pgqcmp-test:"+q+"}")*3/rediscluster.Slots]++
		}
		for i, c := range per {
			if c < n/3 || c > n/3+1 {
				t.Errorf("%d queues put %v on the three primaries' slot ranges; want %d or %d on each (primary %d)", n, per, n/3, n/3+1, i)
			}
		}
	}
}
