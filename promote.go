package pgqueue

// The promoter: makes scheduled jobs available when they fall due.

import (
	"context"
	"log/slog"
	"time"
)

// promoter moves scheduled jobs whose run time has come into their queues
// (Backend.PromoteDue) and wakes those queues. It runs every interval, or
// sooner: when the store says the next scheduled job falls due earlier,
// and when kicked (a retry the engine just scheduled).
type promoter struct {
	backend Backend
	// interval is Config.PollInterval, the longest wait between passes.
	interval time.Duration
	kick     chan struct{}
	wake     func(queues ...string)
	log      *slog.Logger
}

// kickAfter makes the promoter run d from now (plus a millisecond, so the
// job is due by then), without waiting for its interval.
func (p *promoter) kickAfter(d time.Duration) {
	time.AfterFunc(d+5*time.Millisecond, func() {
		select {
		case p.kick <- struct{}{}:
		default:
		}
	})
}

// run promotes at once, then after each step's wait, until ctx ends.
func (p *promoter) run(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-p.kick:
		}
		next := p.step(ctx)
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(next)
	}
}

// step promotes the due jobs once, wakes their queues, and returns how long
// to wait before the next pass: the interval, or less when a scheduled job
// falls due sooner.
func (p *promoter) step(ctx context.Context) time.Duration {
	next := p.interval
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	res, err := p.backend.PromoteDue(ctx)
	cancel()
	switch {
	case err != nil:
		if ctx.Err() == nil {
			p.log.Warn("pgqueue: promoting scheduled jobs failed", "err", err)
		}
	default:
		p.wake(res.Queues...)
		if res.HasNext && res.NextIn < next {
			next = max(res.NextIn, 0) + time.Millisecond
		}
	}
	return next
}
