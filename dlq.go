package pgqueue

// The Client's dead-letter operations: list, requeue, purge.

import (
	"context"
)

// Dead letters. A job lands in the dead-letter store when it fails with
// Permanent, when its args no longer decode, or when it has used all its
// attempts (by failing, or by its worker dying while holding it). It stays
// there, with every attempt's error, until requeued or purged: nothing
// deletes dead letters automatically. On Postgres the store is the plain
// table pgqueue_dead_jobs, for example:
//
//	SELECT kind, count(*) FROM pgqueue_dead_jobs GROUP BY kind;
//	SELECT id, args, last_error FROM pgqueue_dead_jobs WHERE kind = 'email.send';

// ListDead returns dead-lettered jobs matching f, newest first, at most
// f.Limit (default 100). It returns the backend's error, if any.
func (c *Client) ListDead(ctx context.Context, f DeadFilter) ([]*DeadJob, error) {
	if f.Limit < 0 {
		return nil, invalidJob("Limit", "must not be negative, got %d", f.Limit)
	}
	return c.backend.ListDead(ctx, f)
}

// RequeueDead moves the dead-lettered jobs with the given IDs back into
// their queues, due now, with their attempt count reset to zero and their
// error history kept. It returns how many it moved; IDs that are not dead
// letters are skipped. It returns ErrInvalidArgs when no ID is given.
func (c *Client) RequeueDead(ctx context.Context, ids ...int64) (int, error) {
	if len(ids) == 0 {
		return 0, invalidJob("ids", "no job IDs given")
	}
	n, err := c.backend.RequeueDead(ctx, ids)
	if err == nil && n > 0 {
		c.wakeLocal("")
	}
	return n, err
}

// PurgeDead deletes the dead-lettered jobs matching f and returns how many
// it deleted. To protect against purging everything by accident, a filter
// with no field set returns ErrInvalidArgs: set f.DiedBefore to
// time.Now() to purge all.
func (c *Client) PurgeDead(ctx context.Context, f DeadFilter) (int, error) {
	if f.Kind == "" && f.Queue == "" && len(f.IDs) == 0 && f.DiedBefore.IsZero() && f.DiedAfter.IsZero() {
		return 0, invalidJob("filter", "empty filter would purge every dead letter; set DiedBefore to time.Now() to mean all")
	}
	return c.backend.PurgeDead(ctx, f)
}

// wakeLocal pokes this client's own fetch loops, if it is working.
func (c *Client) wakeLocal(queues ...string) {
	c.mu.Lock()
	e := c.engine
	stopped := c.stopped
	c.mu.Unlock()
	if e != nil && !stopped {
		e.wakeQueues(queues...)
	}
}
