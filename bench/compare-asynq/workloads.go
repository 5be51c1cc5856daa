package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// result is one measurement of one system.
type result struct {
	workload string
	system   string
	jobs     int64
	seconds  float64
	perSec   float64
	// p50 and p99 are pickup latencies in ms (latency only).
	p50, p99 float64
	latency  bool
	// cpu is set when redisCPU and clientCPU hold the µs of CPU per job
	// of the Redis server (-1: unknown) and of this process.
	cpu                 bool
	redisCPU, clientCPU float64
	// primaryCPU is, on a cluster (--cluster), each primary's µs of CPU
	// per job, in slot order; empty when unknown.
	primaryCPU []float64
	// note replaces the figure when the system has no such API.
	note string
}

func (r result) String() string {
	if r.note != "" {
		return fmt.Sprintf("%-16s %-18s %s", r.workload, r.system, r.note)
	}
	s := fmt.Sprintf("%-16s %-18s %8d jobs in %6.2fs = %8.0f jobs/s", r.workload, r.system, r.jobs, r.seconds, r.perSec)
	if r.latency {
		s += fmt.Sprintf("   pickup p50 %.2fms p99 %.2fms", r.p50, r.p99)
	}
	if r.cpu {
		s += fmt.Sprintf("   CPU/job: Redis %s, client %.1fµs", cpuCell(r.redisCPU), r.clientCPU)
	}
	return s
}

func cpuCell(us float64) string {
	if us < 0 {
		return "?"
	}
	return fmt.Sprintf("%.1fµs", us)
}

func throughput(workload, system string, n int64, d time.Duration) result {
	return result{workload: workload, system: system, jobs: n, seconds: d.Seconds(), perSec: float64(n) / d.Seconds()}
}

// enqueueEach stores n jobs one per call from g goroutines, and measures
// the CPU both sides spend per job.
func enqueueEach(ctx context.Context, sys system, n int64, g int, m cpuMeter) (result, error) {
	if err := sys.reset(ctx); err != nil {
		return result{}, err
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, g)
	cpu0 := m.sample(ctx)
	start := time.Now()
	for range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				seq := next.Add(1) - 1
				if seq >= n {
					return
				}
				if err := sys.enqueue(ctx, seq); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1 := m.sample(ctx)
	select {
	case err := <-errs:
		return result{}, err
	default:
	}
	r := throughput(fmt.Sprintf("enqueue×%d", g), sys.name, n, elapsed)
	r.perJob(cpu0, cpu1, n)
	return r, nil
}

// enqueueBatches stores n jobs in calls of size jobs each, from one
// goroutine.
func enqueueBatches(ctx context.Context, sys system, n int64, size int) (result, error) {
	label := fmt.Sprintf("enqueue batch/%d", size)
	if sys.enqueueBatch == nil {
		return result{workload: label, system: sys.name, note: "no batch enqueue API"}, nil
	}
	if err := sys.reset(ctx); err != nil {
		return result{}, err
	}
	start := time.Now()
	if err := fill(ctx, sys, n, size, 1); err != nil {
		return result{}, err
	}
	return throughput(label, sys.name, n, time.Since(start)), nil
}

// fill stores n jobs the fastest way the system has: batches of size, or
// one per call from g goroutines.
func fill(ctx context.Context, sys system, n int64, size, g int) error {
	if sys.enqueueBatch != nil {
		for from := int64(0); from < n; from += int64(size) {
			seqs := make([]int64, min(int64(size), n-from))
			for i := range seqs {
				seqs[i] = from + int64(i)
			}
			if err := sys.enqueueBatch(ctx, seqs); err != nil {
				return err
			}
		}
		return nil
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	var first atomic.Value
	for range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				seq := next.Add(1) - 1
				if seq >= n {
					return
				}
				if err := sys.enqueue(ctx, seq); err != nil {
					first.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := first.Load().(error); err != nil {
		return err
	}
	return nil
}

// drain stores n jobs (untimed), then times the workers from start until
// every job has begun and the workers have stopped.
func drain(ctx context.Context, sys system, n int64) (result, error) {
	if err := sys.reset(ctx); err != nil {
		return result{}, err
	}
	if err := fill(ctx, sys, n, 1000, 8); err != nil {
		return result{}, fmt.Errorf("fill: %w", err)
	}
	var done atomic.Int64
	all := make(chan struct{})
	start := time.Now()
	stop, err := sys.start(ctx, func(int64) {
		if done.Add(1) == n {
			close(all)
		}
	})
	if err != nil {
		return result{}, err
	}
	select {
	case <-all:
	case <-ctx.Done():
		stop()
		return result{}, fmt.Errorf("drain: %d of %d jobs worked: %w", done.Load(), n, ctx.Err())
	}
	stop()
	return throughput("drain", sys.name, n, time.Since(start)), nil
}

// continuous runs producers and workers together for d and returns the
// worked rate. Producers use the system's batch API (2 producers, batches
// of 100) or, without one, 8 goroutines enqueueing one per call; they
// pause while more than 10,000 jobs wait, so the run measures a steady
// state rather than a growing backlog.
func continuous(ctx context.Context, sys system, d time.Duration) (result, error) {
	if err := sys.reset(ctx); err != nil {
		return result{}, err
	}
	var worked atomic.Int64
	stop, err := sys.start(ctx, func(int64) { worked.Add(1) })
	if err != nil {
		return result{}, err
	}
	runCtx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var seq atomic.Int64
	producers, size := 8, 1
	if sys.enqueueBatch != nil {
		producers, size = 2, 100
	}
	var wg sync.WaitGroup
	var first atomic.Value
	start := time.Now()
	for range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for runCtx.Err() == nil {
				if seq.Load()-worked.Load() > 10000 {
					time.Sleep(time.Millisecond)
					continue
				}
				from := seq.Add(int64(size)) - int64(size)
				var err error
				if sys.enqueueBatch != nil {
					seqs := make([]int64, size)
					for i := range seqs {
						seqs[i] = from + int64(i)
					}
					err = sys.enqueueBatch(runCtx, seqs)
				} else {
					err = sys.enqueue(runCtx, from)
				}
				if err != nil && runCtx.Err() == nil {
					first.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	n := worked.Load()
	elapsed := time.Since(start)
	stop()
	if err, _ := first.Load().(error); err != nil {
		return result{}, err
	}
	return throughput("continuous", sys.name, n, elapsed), nil
}

// latency enqueues one job at a time at rate per second for d while the
// workers are idle, and measures pickup: from the enqueue call to the
// worker starting the job.
func latency(ctx context.Context, sys system, rate float64, d time.Duration) (result, error) {
	if err := sys.reset(ctx); err != nil {
		return result{}, err
	}
	var mu sync.Mutex
	sent := map[int64]time.Time{}
	var samples []time.Duration
	stop, err := sys.start(ctx, func(seq int64) {
		now := time.Now()
		mu.Lock()
		if at, ok := sent[seq]; ok {
			samples = append(samples, now.Sub(at))
		}
		mu.Unlock()
	})
	if err != nil {
		return result{}, err
	}
	// Let the workers settle before the first job.
	time.Sleep(200 * time.Millisecond)
	interval := time.Duration(float64(time.Second) / rate)
	n := int64(rate * d.Seconds())
	tick := time.NewTicker(interval)
	for seq := int64(0); seq < n; seq++ {
		select {
		case <-tick.C:
		case <-ctx.Done():
			tick.Stop()
			stop()
			return result{}, ctx.Err()
		}
		mu.Lock()
		sent[seq] = time.Now()
		mu.Unlock()
		if err := sys.enqueue(ctx, seq); err != nil {
			tick.Stop()
			stop()
			return result{}, err
		}
	}
	tick.Stop()
	// Wait for the last pickups (asynq's default checks every second).
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		got := int64(len(samples))
		mu.Unlock()
		if got >= n {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	mu.Lock()
	defer mu.Unlock()
	if int64(len(samples)) < n {
		return result{}, fmt.Errorf("latency: only %d of %d jobs were picked up", len(samples), n)
	}
	slices.Sort(samples)
	at := func(p float64) float64 {
		i := max(0, min(len(samples)-1, int(p*float64(len(samples))+0.999999)-1))
		return float64(samples[i]) / float64(time.Millisecond)
	}
	r := throughput(fmt.Sprintf("latency/%.0f/s", rate), sys.name, n, d)
	r.latency, r.p50, r.p99 = true, at(0.50), at(0.99)
	return r, nil
}
