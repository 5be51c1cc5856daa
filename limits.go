package pgqueue

import (
	"context"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5/pgtype"
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

func (l QueueLimits) validate(queue string) (QueueLimits, error) {
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

// QueueLimiter is an optional Backend interface for global per-queue
// limits.
type QueueLimiter interface {
	// SetQueueLimits stores queue's limits (zero values clear them); every
	// claim of the queue, by any client, keeps them from then on.
	SetQueueLimits(ctx context.Context, queue string, l QueueLimits) error
}

var _ QueueLimiter = (*PostgresBackend)(nil)

// SetQueueLimits implements QueueLimiter.
func (b *PostgresBackend) SetQueueLimits(ctx context.Context, queue string, l QueueLimits) error {
	if !queueNameRE.MatchString(queue) {
		return invalidJob("queue", "%q is not a valid queue name", queue)
	}
	l, err := l.validate(queue)
	if err != nil {
		return err
	}
	var (
		maxRunning  pgtype.Int4
		rate, burst pgtype.Float8
	)
	if l.MaxRunning > 0 {
		maxRunning = pgtype.Int4{Int32: int32(l.MaxRunning), Valid: true}
	}
	if l.Rate != nil {
		rate = pgtype.Float8{Float64: l.Rate.PerSecond, Valid: true}
		burst = pgtype.Float8{Float64: float64(l.Rate.Burst), Valid: true}
	}
	_, err = b.pool.Exec(ctx, b.q.queueLimits, queue, maxRunning, rate, burst)
	return dbErr("set queue limits", err)
}

// SetQueueLimits sets queue's global limits: see PostgresBackend.SetQueueLimits.
func (a *Admin) SetQueueLimits(ctx context.Context, queue string, l QueueLimits) error {
	return a.b.SetQueueLimits(ctx, queue, l)
}

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
