package pgqueue

// The census of due jobs whose kind this client has no worker for.

import (
	"context"
	"log/slog"
	"maps"
	"sort"
	"sync"
	"time"
)

// unworkedLimit caps the jobs one census looks at per queue.
const unworkedLimit = 1000

// census counts, every interval, the due jobs of the client's queues whose
// kind it has no worker for and that have waited longer than the
// interval (KindCensus). It never touches them (another deployment may
// own the kind); it logs them and keeps the latest count for
// Client.UnworkedKinds.
type census struct {
	store  KindCensus
	queues []string
	kinds  []string
	// interval is Config.UnworkedKindsInterval.
	interval time.Duration
	log      *slog.Logger

	mu      sync.Mutex
	byQueue map[string]map[string]int
}

// run takes a census every interval until ctx ends.
func (c *census) run(ctx context.Context) { onTicker(ctx, c.interval, c.step) }

// step takes one census, logs what it finds and keeps it. A failed count
// keeps the previous census.
func (c *census) step(ctx context.Context) {
	found := map[string]map[string]int{}
	for _, name := range c.queues {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		kinds, err := c.store.UnworkedKinds(cctx, name, c.kinds, c.interval, unworkedLimit)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				c.log.Warn("pgqueue: counting unworked kinds failed", "queue", name, "err", err)
			}
			return
		}
		found[name] = kinds
		for kind, n := range kinds {
			c.log.Warn("pgqueue: due jobs of a kind this client has no worker for are waiting; left for a client that has one",
				"queue", name, "kind", kind, "count", n, "waited_over", c.interval)
		}
	}
	c.mu.Lock()
	c.byQueue = found
	c.mu.Unlock()
}

// latest returns a copy of the last census; nil before the first.
func (c *census) latest() map[string]map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byQueue == nil {
		return nil
	}
	out := make(map[string]map[string]int, len(c.byQueue))
	for q, kinds := range c.byQueue {
		out[q] = maps.Clone(kinds)
	}
	return out
}

// newCensus returns the census of e's queues, or nil when the backend
// cannot take one.
func (e *engine) newCensus() *census {
	store, ok := e.backend.(KindCensus)
	if !ok {
		return nil
	}
	queues := make([]string, 0, len(e.queues))
	for name := range e.queues {
		queues = append(queues, name)
	}
	sort.Strings(queues)
	return &census{store: store, queues: queues, kinds: e.kinds, interval: e.cfg.UnworkedKindsInterval, log: e.c.log}
}

// UnworkedKinds returns, per queue this client works, the kinds of due jobs
// it has no worker for and that have waited longer than
// Config.UnworkedKindsInterval, with how many (counting at most 1,000 per
// queue), as of the client's last check (once per that interval while it
// runs). It returns nil before the first check, when the client is not
// running, or when the backend cannot tell.
func (c *Client) UnworkedKinds() map[string]map[string]int {
	e := c.currentEngine()
	if e == nil || e.census == nil {
		return nil
	}
	return e.census.latest()
}
