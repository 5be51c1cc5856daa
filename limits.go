package pgqueue

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

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

// limitCacheTTL is how long a client trusts its list of limited queues:
// limits set at run time (Admin.SetQueueLimits) apply within it.
const limitCacheTTL = time.Second

// limitCache remembers which queues have global limits, so that claims of
// the (usual) unlimited queues skip the lock and the limit arithmetic.
type limitCache struct {
	mu      sync.Mutex
	at      time.Time
	limited map[string]bool
}

func (c *limitCache) isLimited(ctx context.Context, b *PostgresBackend, queue string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.limited == nil || time.Since(c.at) > limitCacheTTL {
		rows, _ := b.pool.Query(ctx, b.q.LimitedQueues)
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return false, err
		}
		c.limited = make(map[string]bool, len(names))
		for _, n := range names {
			c.limited[n] = true
		}
		c.at = time.Now()
	}
	return c.limited[queue], nil
}

// invalidate makes the next claim re-read the limits.
func (c *limitCache) invalidate() {
	c.mu.Lock()
	c.limited = nil
	c.mu.Unlock()
}

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
	l, err := l.Normalize(queue)
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
	_, err = b.pool.Exec(ctx, b.q.QueueLimits, queue, maxRunning, rate, burst)
	b.limits.invalidate()
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
