package pgqueue

// The Postgres backend's claim: one pipelined round trip, and the cache
// of queues with global limits that need the locking claim.

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Claim implements Backend.
func (b *PostgresBackend) Claim(ctx context.Context, p ClaimParams) ([]*JobRow, error) {
	if p.Limit <= 0 || len(p.Kinds) == 0 {
		return nil, nil
	}
	// One round trip: the plan setting, the claim and the commit are
	// pipelined in one batch.
	batch := &pgx.Batch{}
	limited, err := b.limits.isLimited(ctx, b, p.Queue)
	if err != nil {
		return nil, dbErr("read queue limits", err)
	}
	claim := b.q.Claim
	batch.Queue("BEGIN")
	batch.Queue(b.q.ClaimPlan)
	if limited {
		batch.Queue(b.q.ClaimLock, p.Queue)
		claim = b.q.ClaimLimited
	}
	var out []*JobRow
	batch.Queue(claim, p.Queue, p.Kinds, p.Limit, micros(p.Lease), p.ClientID).Query(func(rows pgx.Rows) error {
		var err error
		out, err = newJobScanner(p.Queue, p.Kinds).scanAll(rows, p.Limit)
		return err
	})
	batch.Queue("COMMIT")
	if err := b.pool.SendBatch(ctx, batch).Close(); err != nil {
		return nil, dbErr("claim jobs", err)
	}
	slices.SortFunc(out, func(a, c *JobRow) int {
		if n := cmp.Compare(a.Priority, c.Priority); n != 0 {
			return n
		}
		if n := a.RunAt.Compare(c.RunAt); n != 0 {
			return n
		}
		return cmp.Compare(a.ID, c.ID)
	})
	return out, nil
}

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
