package bench

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// TableStats is a sample of the hot table's health.
type TableStats struct {
	// Dead and Live are the table's dead and live rows as the statistics
	// collector counts them; Bytes is its size on disk, indexes included.
	Dead, Live, Bytes int64
}

// SoakConfig describes a soak run.
type SoakConfig struct {
	// Duration is how long producers insert and samples are taken.
	Duration time.Duration
	Interval time.Duration // sampling period
	// Producers is how many goroutines insert batches concurrently.
	Producers int
	// Batch is how many jobs each producer inserts per InsertMany call;
	// it must be positive.
	Batch int
	// HoldFrom and HoldFor: a transaction pinning the vacuum horizon is
	// held open from HoldFrom into the run, for HoldFor (0: never).
	HoldFrom, HoldFor time.Duration
	// Stats samples the hot table at every sample. Required.
	Stats func(ctx context.Context) (TableStats, error)
	// HoldHorizon opens a transaction that pins the vacuum horizon and
	// returns its release; nil means the horizon is never held.
	HoldHorizon func(ctx context.Context) (release func(), err error)
}

// SoakSample is one row of the soak's time series.
type SoakSample struct {
	// Elapsed is how far into the run the sample was taken.
	Elapsed time.Duration
	// JobsPerSec is how many jobs per second workers started since the
	// previous sample.
	JobsPerSec float64
	// P99ms is the 99th-percentile pickup latency in ms, from the call of
	// a batch's insert (so it includes the insert itself) to the start of
	// each of its jobs, over the jobs started since the previous sample; 0
	// when there were none.
	P99ms float64
	// Table is the hot table's statistics at the sample.
	Table TableStats
	// Holding is true when the horizon-pinning transaction was open at
	// the sample.
	Holding bool
}

// Soak runs producers and workers for cfg.Duration, sampling throughput,
// pickup latency (the call of a batch's insert to the start of each of its jobs) and
// the hot table's dead rows every cfg.Interval, optionally while a
// long-running transaction pins the vacuum horizon for part of the run.
// Each sample is written to csvOut as it is taken.
func Soak(ctx context.Context, sys System, cfg SoakConfig, csvOut io.Writer, onSample func(SoakSample)) ([]SoakSample, error) {
	if cfg.Duration <= 0 || cfg.Interval <= 0 || cfg.Producers <= 0 || cfg.Batch <= 0 || cfg.Stats == nil {
		return nil, fmt.Errorf("soak: Duration, Interval, Producers and Batch must be positive and Stats set (got %v, %v, %d, %d, Stats set: %t)",
			cfg.Duration, cfg.Interval, cfg.Producers, cfg.Batch, cfg.Stats != nil)
	}
	if err := sys.Reset(ctx); err != nil {
		return nil, err
	}
	w := csv.NewWriter(csvOut)
	_ = w.Write([]string{"elapsed_s", "jobs_per_sec", "pickup_p99_ms", "dead_tuples", "live_tuples", "table_bytes", "horizon_held"})
	w.Flush()

	var (
		mu        sync.Mutex
		inserted  = map[int64]time.Time{} // first seq of a batch -> when its insert was called
		latencies []time.Duration
		worked    atomic.Int64
		seq       atomic.Int64
	)
	batch := int64(cfg.Batch)
	stop, err := sys.Start(ctx, func(s int64) {
		now := time.Now()
		mu.Lock()
		if at, ok := inserted[s-s%batch]; ok {
			latencies = append(latencies, now.Sub(at))
		}
		mu.Unlock()
		worked.Add(1)
	})
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var wg sync.WaitGroup
	for range cfg.Producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for runCtx.Err() == nil {
				if seq.Load()-worked.Load() > 50*batch*int64(cfg.Producers) {
					time.Sleep(time.Millisecond)
					continue
				}
				from := seq.Add(batch) - batch
				// Stamped before the call, so that a job a worker starts
				// before InsertMany returns is measured too.
				mu.Lock()
				inserted[from] = time.Now()
				mu.Unlock()
				_ = sys.InsertMany(runCtx, seqs(from, batch))
			}
		}()
	}

	var (
		samples []SoakSample
		release func()
		holding bool
	)
	start := time.Now()
	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	last, lastAt := int64(0), start
	for runCtx.Err() == nil {
		select {
		case <-runCtx.Done():
		case now := <-tick.C:
			el := now.Sub(start)
			if cfg.HoldFor > 0 && cfg.HoldHorizon != nil {
				if !holding && release == nil && el >= cfg.HoldFrom {
					if release, err = cfg.HoldHorizon(ctx); err != nil {
						return samples, fmt.Errorf("hold horizon: %w", err)
					}
					holding = true
				} else if holding && el >= cfg.HoldFrom+cfg.HoldFor {
					release()
					holding = false
				}
			}
			wk := worked.Load()
			mu.Lock()
			lat := latencies
			latencies = nil
			mu.Unlock()
			var r Result
			percentiles(&r, lat)
			st, err := cfg.Stats(ctx)
			if err != nil {
				return samples, err
			}
			s := SoakSample{Elapsed: el, JobsPerSec: float64(wk-last) / now.Sub(lastAt).Seconds(), P99ms: r.P99ms, Table: st, Holding: holding}
			last, lastAt = wk, now
			samples = append(samples, s)
			_ = w.Write([]string{strconv.FormatFloat(el.Seconds(), 'f', 1, 64), strconv.FormatFloat(s.JobsPerSec, 'f', 0, 64),
				strconv.FormatFloat(s.P99ms, 'f', 2, 64), strconv.FormatInt(st.Dead, 10), strconv.FormatInt(st.Live, 10),
				strconv.FormatInt(st.Bytes, 10), strconv.FormatBool(holding)})
			w.Flush()
			if onSample != nil {
				onSample(s)
			}
		}
	}
	if holding {
		release()
	}
	wg.Wait()
	return samples, stop(context.Background())
}

// SoakWindows returns the mean jobs/s of the samples in the first and in
// the last window of a run.
func SoakWindows(samples []SoakSample, window time.Duration) (first, last float64) {
	if len(samples) == 0 {
		return 0, 0
	}
	end := samples[len(samples)-1].Elapsed
	var fs, fn, ls, ln float64
	for _, s := range samples {
		if s.Elapsed <= window {
			fs += s.JobsPerSec
			fn++
		}
		if s.Elapsed > end-window {
			ls += s.JobsPerSec
			ln++
		}
	}
	return fs / max(fn, 1), ls / max(ln, 1)
}
