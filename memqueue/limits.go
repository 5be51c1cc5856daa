package memqueue

import (
	"context"
	"time"

	"github.com/pgqueue/pgqueue"
)

var _ pgqueue.QueueLimiter = (*Backend)(nil)

// queueLimit is one queue's global limits and its token bucket.
type queueLimit struct {
	maxRunning int
	rate       float64
	burst      float64
	tokens     float64
	tokensAt   time.Time
}

// SetQueueLimits implements pgqueue.QueueLimiter. Limits hold across every
// Client sharing this Backend.
func (b *Backend) SetQueueLimits(ctx context.Context, queue string, l pgqueue.QueueLimits) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l, err := l.Normalize(queue)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if l.MaxRunning == 0 && l.Rate == nil {
		delete(b.limits, queue)
		return nil
	}
	ql := &queueLimit{maxRunning: l.MaxRunning, tokensAt: b.now()}
	if l.Rate != nil {
		ql.rate, ql.burst = l.Rate.PerSecond, float64(l.Rate.Burst)
		ql.tokens = ql.burst
	}
	// The same rate set again (every client does at Start) keeps its
	// bucket, so restarts cannot grant extra bursts.
	if old := b.limits[queue]; old != nil && old.rate == ql.rate && old.burst == ql.burst {
		ql.tokens, ql.tokensAt = old.tokens, old.tokensAt
	}
	b.limits[queue] = ql
	return nil
}

// allowed caps a claim of limit jobs of queue by its global limits, and
// returns a function that spends the tokens of the n jobs claimed. b.mu
// must be held.
func (b *Backend) allowed(queue string, limit int, now time.Time) (int, func(n int)) {
	ql := b.limits[queue]
	if ql == nil {
		return limit, func(int) {}
	}
	if ql.maxRunning > 0 {
		running := 0
		for _, j := range b.running {
			if j.row.Queue == queue {
				running++
			}
		}
		limit = min(limit, max(0, ql.maxRunning-running))
	}
	if ql.rate > 0 {
		ql.tokens = min(ql.burst, ql.tokens+now.Sub(ql.tokensAt).Seconds()*ql.rate)
		ql.tokensAt = now
		limit = min(limit, int(ql.tokens))
	}
	return limit, func(n int) {
		if ql.rate > 0 {
			ql.tokens -= float64(n)
		}
	}
}
