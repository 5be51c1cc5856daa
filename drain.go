package pgqueue

// Client.Drain: run every due job once, synchronously, for tests and
// scripts.

import (
	"context"
	"fmt"
	"sort"
)

// Drain works, in the calling goroutine and one at a time, every job of
// the given queues (default: the configured ones) that is due, until a
// pass finds none, and returns how many runs it made. Failed jobs are
// retried by policy, so one whose backoff ends during the drain runs again
// in it; jobs scheduled further out are left. It is meant for tests and
// scripts: the client must not be started (ErrAlreadyStarted), and must
// have workers (ErrNoWorkers). It stops early with ctx's error.
func (c *Client) Drain(ctx context.Context, queues ...string) (int, error) {
	c.mu.Lock()
	switch {
	case c.stopped:
		c.mu.Unlock()
		return 0, ErrClientStopped
	case c.started:
		c.mu.Unlock()
		return 0, fmt.Errorf("%w: Drain works jobs itself; use it on a client that is not started", ErrAlreadyStarted)
	case len(c.workers) == 0:
		c.mu.Unlock()
		return 0, ErrNoWorkers
	}
	c.mu.Unlock()
	e := c.newEngine(ctx)
	defer e.cancelBG()
	if len(queues) == 0 {
		for name := range e.queues {
			queues = append(queues, name)
		}
		sort.Strings(queues)
	}
	for _, name := range queues {
		if err := CheckQueueName(name); err != nil {
			return 0, err
		}
		if e.queues[name] == nil {
			e.queues[name] = e.newQueueFetcher(name, 1)
		}
	}
	ran := 0
	for {
		if err := ctx.Err(); err != nil {
			return ran, err
		}
		if _, err := e.backend.PromoteDue(ctx); err != nil {
			return ran, err
		}
		found := false
		for _, name := range queues {
			rows, err := e.backend.Claim(ctx, ClaimParams{Queue: name, Kinds: e.kinds, Limit: 1, Lease: e.cfg.LeaseDuration, ClientID: e.cfg.ID})
			if err != nil {
				return ran, err
			}
			for _, row := range rows {
				found = true
				q := e.queues[name]
				q.active.Add(1)
				e.jobsWG.Add(1)
				e.execute(q, row)
				e.completer.flush()
				ran++
			}
		}
		if !found {
			return ran, nil
		}
	}
}
