package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// insertChunk is how many jobs one InsertMany/InsertCopy call carries.
const insertChunk = 1000

// Burndown inserts n jobs, then times how long the system's workers take
// to work all of them: until the last job has started and the workers
// have stopped, which waits for every job to finish and every batched
// completion to be written.
func Burndown(ctx context.Context, sys System, n int64) (Result, error) {
	if err := sys.Reset(ctx); err != nil {
		return Result{}, err
	}
	for from := int64(0); from < n; from += insertChunk {
		if err := sys.InsertMany(ctx, seqs(from, min(insertChunk, n-from))); err != nil {
			return Result{}, fmt.Errorf("insert: %w", err)
		}
	}
	var done atomic.Int64
	all := make(chan struct{})
	start := time.Now()
	stop, err := sys.Start(ctx, func(int64) {
		if done.Add(1) == n {
			close(all)
		}
	})
	if err != nil {
		return Result{}, err
	}
	select {
	case <-all:
	case <-ctx.Done():
		_ = stop(context.Background())
		return Result{}, fmt.Errorf("burndown: %d of %d jobs worked: %w", done.Load(), n, ctx.Err())
	}
	if err := stop(ctx); err != nil {
		return Result{}, err
	}
	elapsed := time.Since(start)
	return Result{Mode: "burndown", System: sys.Name, Jobs: n, Seconds: elapsed.Seconds(), JobsPerSec: float64(n) / elapsed.Seconds()}, nil
}

// Continuous runs producers (inserting batches of batch jobs) and workers
// at once for d, calling report every interval with the jobs/s of that
// interval, and returns the overall worked rate.
func Continuous(ctx context.Context, sys System, d time.Duration, producers, batch int, interval time.Duration, report func(elapsed time.Duration, perSec float64)) (Result, error) {
	if err := sys.Reset(ctx); err != nil {
		return Result{}, err
	}
	var worked atomic.Int64
	stop, err := sys.Start(ctx, func(int64) { worked.Add(1) })
	if err != nil {
		return Result{}, err
	}
	runCtx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		seq    atomic.Int64
		wg     sync.WaitGroup
		errMu  sync.Mutex
		prodEr error
	)
	for range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for runCtx.Err() == nil {
				// Keep the backlog bounded so that we measure a steady
				// state, not an ever-growing queue.
				if seq.Load()-worked.Load() > int64(50*batch*producers) {
					time.Sleep(time.Millisecond)
					continue
				}
				from := seq.Add(int64(batch)) - int64(batch)
				if err := sys.InsertMany(runCtx, seqs(from, int64(batch))); err != nil && runCtx.Err() == nil {
					errMu.Lock()
					prodEr = err
					errMu.Unlock()
					return
				}
			}
		}()
	}
	start := time.Now()
	tick := time.NewTicker(interval)
	last, lastAt := int64(0), start
loop:
	for {
		select {
		case <-runCtx.Done():
			break loop
		case now := <-tick.C:
			w := worked.Load()
			if report != nil {
				report(now.Sub(start), float64(w-last)/now.Sub(lastAt).Seconds())
			}
			last, lastAt = w, now
		}
	}
	tick.Stop()
	total := worked.Load()
	elapsed := time.Since(start)
	wg.Wait()
	if err := stop(context.Background()); err != nil {
		return Result{}, err
	}
	if prodEr != nil {
		return Result{}, fmt.Errorf("producer: %w", prodEr)
	}
	return Result{Mode: "continuous", System: sys.Name, Jobs: total, Seconds: elapsed.Seconds(), JobsPerSec: float64(total) / elapsed.Seconds()}, nil
}

// Latency enqueues one job per transaction at rate jobs/s for d while the
// workers idle, and reports pickup latency: from the moment the producer
// calls Commit to the moment a worker starts the job.
func Latency(ctx context.Context, sys System, rate float64, d time.Duration) (Result, error) {
	if err := sys.Reset(ctx); err != nil {
		return Result{}, err
	}
	var (
		mu        sync.Mutex
		committed = map[int64]time.Time{}
		startedAt = map[int64]time.Time{}
		samples   []time.Duration
	)
	var started atomic.Int64
	stop, err := sys.Start(ctx, func(seq int64) {
		now := time.Now()
		mu.Lock()
		if at, ok := committed[seq]; ok {
			samples = append(samples, now.Sub(at))
			startedAt[seq] = now
		}
		mu.Unlock()
		started.Add(1)
	})
	if err != nil {
		return Result{}, err
	}
	// Let the workers settle (listeners connected, first polls done).
	time.Sleep(500 * time.Millisecond)
	interval := time.Duration(float64(time.Second) / rate)
	commitEnd := map[int64]time.Time{}
	next := time.Now()
	end := next.Add(d)
	var n int64
	for time.Now().Before(end) && ctx.Err() == nil {
		if wait := time.Until(next); wait > 0 {
			time.Sleep(wait)
		}
		next = next.Add(interval)
		tx, err := sys.Begin(ctx)
		if err != nil {
			_ = stop(context.Background())
			return Result{}, err
		}
		if err := sys.InsertTx(ctx, tx, n); err != nil {
			_ = tx.Rollback(ctx)
			_ = stop(context.Background())
			return Result{}, err
		}
		mu.Lock()
		committed[n] = time.Now()
		mu.Unlock()
		if err := tx.Commit(ctx); err != nil {
			_ = stop(context.Background())
			return Result{}, err
		}
		mu.Lock()
		commitEnd[n] = time.Now()
		mu.Unlock()
		n++
	}
	deadline := time.Now().Add(10 * time.Second)
	for started.Load() < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := d.Seconds()
	if err := stop(context.Background()); err != nil {
		return Result{}, err
	}
	mu.Lock()
	defer mu.Unlock()
	r := Result{Mode: "latency", System: sys.Name, Variant: fmt.Sprintf("%.0f/s", rate), Jobs: n, Seconds: elapsed, JobsPerSec: float64(n) / elapsed}
	percentiles(&r, samples)
	var commits, afterCommit []time.Duration
	for seq, end := range commitEnd {
		commits = append(commits, end.Sub(committed[seq]))
		if at, ok := startedAt[seq]; ok {
			// A worker may start the job a hair before Commit returns
			// to the producer: count that as no wait at all.
			afterCommit = append(afterCommit, max(0, at.Sub(end)))
		}
	}
	if len(commits) > 0 && len(afterCommit) > 0 {
		r.CommitP50ms = quantiles(commits)(0.5)
		at := quantiles(afterCommit)
		r.AfterCommitP50ms, r.AfterCommitP99ms = at(0.5), at(0.99)
	}
	if int64(len(samples)) < n {
		return r, fmt.Errorf("latency: only %d of %d jobs started", len(samples), n)
	}
	return r, nil
}

// Insert measures the enqueue paths: txJobs jobs one per transaction from
// goroutines concurrent producers, then n jobs by multi-row inserts and by
// COPY, in chunks of 1,000.
func Insert(ctx context.Context, sys System, txJobs, n int64, goroutines int) ([]Result, error) {
	var out []Result
	if err := sys.Reset(ctx); err != nil {
		return nil, err
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	start := time.Now()
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				seq := next.Add(1) - 1
				if seq >= txJobs {
					return
				}
				tx, err := sys.Begin(ctx)
				if err == nil {
					if err = sys.InsertTx(ctx, tx, seq); err == nil {
						err = tx.Commit(ctx)
					} else {
						_ = tx.Rollback(ctx)
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	el := time.Since(start)
	out = append(out, Result{Mode: "insert", Variant: fmt.Sprintf("tx×%d", goroutines), System: sys.Name, Jobs: txJobs, Seconds: el.Seconds(), JobsPerSec: float64(txJobs) / el.Seconds()})

	bulk := func(variant string, insert func(context.Context, []int64) error) error {
		if err := sys.Reset(ctx); err != nil {
			return err
		}
		start := time.Now()
		for from := int64(0); from < n; from += insertChunk {
			if err := insert(ctx, seqs(from, min(insertChunk, n-from))); err != nil {
				return err
			}
		}
		el := time.Since(start)
		out = append(out, Result{Mode: "insert", Variant: variant, System: sys.Name, Jobs: n, Seconds: el.Seconds(), JobsPerSec: float64(n) / el.Seconds()})
		return nil
	}
	if err := bulk("many", sys.InsertMany); err != nil {
		return nil, err
	}
	if sys.InsertCopy != nil {
		if err := bulk("copy", sys.InsertCopy); err != nil {
			return nil, err
		}
	}
	return out, nil
}
