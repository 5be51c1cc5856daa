package pgqueue

// The fixed log-scale histogram buckets of the per-minute stats. Clients
// write counts per bucket, so percentiles of many clients and minutes come
// from summing counts: no client has to see another's samples.

import (
	"math"
	"time"
)

// StatsBucketCount is how many buckets a StatsBuckets histogram has: one
// per bound of StatsBucketBounds, and one more for durations past the last.
const StatsBucketCount = 24

// statsBounds are the buckets' upper bounds, in a 1-2-5 series so that
// percentiles read as round numbers. They are part of the stored format:
// every client and every stored row must use the same, so they never
// change without a new format.
var statsBounds = [StatsBucketCount - 1]time.Duration{
	100 * time.Microsecond, 200 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond,
	10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 30 * time.Minute,
	time.Hour,
}

// StatsBucketBounds returns the upper bounds of the stats histogram
// buckets, shortest first: bucket i counts durations above bound i-1 and
// at most bound i (bucket 0 everything up to 100µs), and the last bucket,
// StatsBucketCount-1, everything above an hour. The slice is a copy.
func StatsBucketBounds() []time.Duration {
	bounds := statsBounds
	return bounds[:]
}

// StatsBuckets is a histogram of durations over the fixed buckets of
// StatsBucketBounds. Histograms add element by element, which is how the
// stats of many clients and minutes are combined.
type StatsBuckets [StatsBucketCount]int64

// statsBucket returns the index of the bucket d falls in; a negative d
// counts as zero.
func statsBucket(d time.Duration) int {
	for i, bound := range statsBounds {
		if d <= bound {
			return i
		}
	}
	return StatsBucketCount - 1
}

// Observe counts d in its bucket.
func (b *StatsBuckets) Observe(d time.Duration) { b[statsBucket(d)]++ }

// Add adds o's counts to b's.
func (b *StatsBuckets) Add(o *StatsBuckets) {
	for i := range b {
		b[i] += o[i]
	}
}

// Total returns how many durations b counts.
func (b *StatsBuckets) Total() int64 {
	var n int64
	for _, c := range b {
		n += c
	}
	return n
}

// Percentile returns the upper bound of the bucket that holds the p-th
// quantile (p from 0 to 1, so 0.95 for p95): the true value is at most
// that, and above the bound before it. For the last bucket, which has no
// upper bound, it returns an hour (the last bound), so the result is then
// a lower bound. It returns 0 when b counts nothing.
func (b *StatsBuckets) Percentile(p float64) time.Duration {
	total := b.Total()
	if total == 0 {
		return 0
	}
	rank := max(int64(math.Ceil(p*float64(total))), 1)
	var seen int64
	for i, c := range b {
		seen += c
		if seen >= rank {
			return statsBounds[min(i, len(statsBounds)-1)]
		}
	}
	return statsBounds[len(statsBounds)-1]
}
