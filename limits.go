package pgqueue

// Global per-queue limits (QueueLimits, RateLimit): their validation and
// how a starting Client applies Config.Queues' limits.

import (
	"context"
	"fmt"
	"math"
)

// RateLimit caps how many jobs of a queue start per second across all
// clients: a token bucket of Burst tokens refilled at PerSecond.
type RateLimit struct {
	// PerSecond must be positive.
	PerSecond float64
	// Burst is how many starts may happen at once after a quiet spell.
	// Default (0): PerSecond rounded up, at least 1.
	Burst int
}

// QueueLimits are the limits a queue keeps across all clients, enforced
// by the store (on Postgres, under a lock on the queue's row).
type QueueLimits struct {
	// MaxRunning caps the queue's running jobs across all clients; 0 means
	// no cap.
	MaxRunning int
	// Rate caps starts per second; nil means no cap.
	Rate *RateLimit
}

// Normalize checks the limits of queue and fills in defaults (a zero
// Burst becomes PerSecond rounded up, at least 1). Backends call it in
// SetQueueLimits. It returns ErrInvalidConfig for a negative MaxRunning, a
// PerSecond that is not a positive number, or a negative Burst.
func (l QueueLimits) Normalize(queue string) (QueueLimits, error) {
	if l.MaxRunning < 0 {
		return l, invalidConfig("Queues["+queue+"].GlobalMaxWorkers", "must not be negative, got %d", l.MaxRunning)
	}
	if l.Rate != nil {
		r := *l.Rate
		if r.PerSecond <= 0 || math.IsNaN(r.PerSecond) || math.IsInf(r.PerSecond, 0) {
			return l, invalidConfig("Queues["+queue+"].RateLimit.PerSecond", "must be a positive number, got %v", r.PerSecond)
		}
		if r.Burst < 0 {
			return l, invalidConfig("Queues["+queue+"].RateLimit.Burst", "must not be negative, got %d", r.Burst)
		}
		if r.Burst == 0 {
			r.Burst = max(1, int(math.Ceil(r.PerSecond)))
		}
		l.Rate = &r
	}
	return l, nil
}

func (l QueueLimits) limited() bool { return l.MaxRunning > 0 || l.Rate != nil }

// applyLimits stores the limits configured in Config.Queues at Start.
func (c *Client) applyLimits(ctx context.Context) error {
	for name, q := range c.cfg.Queues {
		l := QueueLimits{MaxRunning: q.GlobalMaxWorkers, Rate: q.RateLimit}
		if !l.limited() {
			continue
		}
		ql, ok := c.backend.(QueueLimiter)
		if !ok {
			return invalidConfig("Queues["+name+"]", "backend %T does not support global limits", c.backend)
		}
		if err := ql.SetQueueLimits(ctx, name, l); err != nil {
			return fmt.Errorf("pgqueue: start: %w", err)
		}
	}
	return nil
}
