package pgqueue

// The census of due jobs whose kind this client has no worker for.

import (
	"context"
	"maps"
	"sync"
	"time"
)

// unworkedLimit caps the jobs one census looks at per queue.
const unworkedLimit = 1000

// unworked holds the latest census, per queue.
type unworked struct {
	mu      sync.Mutex
	byQueue map[string]map[string]int
	last    time.Time
}

// UnworkedKinds returns, per queue this client works, the kinds of due jobs
// it has no worker for and that have waited longer than
// Config.UnworkedKindsInterval, with how many (counting at most 1,000 per
// queue), as of the client's last check (once per that interval while it
// runs). It returns nil before the first check, when
// the client is not running, or when the backend cannot tell.
func (c *Client) UnworkedKinds() map[string]map[string]int {
	c.mu.Lock()
	e := c.engine
	c.mu.Unlock()
	if e == nil {
		return nil
	}
	e.unworked.mu.Lock()
	defer e.unworked.mu.Unlock()
	if e.unworked.byQueue == nil {
		return nil
	}
	out := make(map[string]map[string]int, len(e.unworked.byQueue))
	for q, kinds := range e.unworked.byQueue {
		out[q] = maps.Clone(kinds)
	}
	return out
}

// censusKinds takes the unworked-kinds census when it is due and logs what
// it finds.
func (e *engine) censusKinds() {
	census, ok := e.backend.(KindCensus)
	if !ok || time.Since(e.unworked.last) < e.cfg.UnworkedKindsInterval {
		return
	}
	e.unworked.last = time.Now()
	found := map[string]map[string]int{}
	for name := range e.queues {
		ctx, cancel := context.WithTimeout(e.loopsCtx, 30*time.Second)
		kinds, err := census.UnworkedKinds(ctx, name, e.kinds, e.cfg.UnworkedKindsInterval, unworkedLimit)
		cancel()
		if err != nil {
			if e.loopsCtx.Err() == nil {
				e.c.log.Warn("pgqueue: counting unworked kinds failed", "queue", name, "err", err)
			}
			return
		}
		found[name] = kinds
		for kind, n := range kinds {
			e.c.log.Warn("pgqueue: due jobs of a kind this client has no worker for are waiting; left for a client that has one",
				"queue", name, "kind", kind, "count", n, "waited_over", e.cfg.UnworkedKindsInterval)
		}
	}
	e.unworked.mu.Lock()
	e.unworked.byQueue = found
	e.unworked.mu.Unlock()
}
