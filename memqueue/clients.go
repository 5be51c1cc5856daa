package memqueue

// The client registry and the list of periodic jobs, in memory.

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/pgqueue/pgqueue"
)

var (
	_ pgqueue.ClientRegistry = (*Backend)(nil)
	_ pgqueue.PeriodicLister = (*Backend)(nil)
)

// RegisterClient implements pgqueue.ClientRegistry: it stores a copy of c
// with StartedAt and LastSeen set to the Backend's clock (see WithClock),
// and forgets the other clients not seen for pgqueue.ClientStaleAfter. It
// returns an error wrapping pgqueue.ErrInvalidArgs for an empty c.ID.
func (b *Backend) RegisterClient(ctx context.Context, c pgqueue.ClientInfo) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.ID == "" {
		return fmt.Errorf("%w: memqueue: RegisterClient needs a client ID", pgqueue.ErrInvalidArgs)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	for id, old := range b.clients {
		if now.Sub(old.LastSeen) > pgqueue.ClientStaleAfter {
			delete(b.clients, id)
		}
	}
	c.Queues = maps.Clone(c.Queues)
	if c.Queues == nil {
		c.Queues = map[string]int{}
	}
	c.Periodic = slices.Clone(c.Periodic)
	if len(c.Periodic) == 0 {
		c.Periodic = nil
	}
	c.StartedAt, c.LastSeen = now, now
	b.clients[c.ID] = c
	return nil
}

// ClientSeen implements pgqueue.ClientRegistry: it sets client id's
// LastSeen to the Backend's clock, or returns an error wrapping
// pgqueue.ErrClientNotFound when id is not registered.
func (b *Backend) ClientSeen(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.clients[id]
	if !ok {
		return fmt.Errorf("%w: memqueue: %q", pgqueue.ErrClientNotFound, id)
	}
	c.LastSeen = b.now()
	b.clients[id] = c
	return nil
}

// UnregisterClient implements pgqueue.ClientRegistry: it forgets client
// id, if registered.
func (b *Backend) UnregisterClient(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	delete(b.clients, id)
	b.mu.Unlock()
	return nil
}

// Clients implements pgqueue.ClientRegistry: copies of the clients seen
// within staleAfter of the Backend's clock, by ID.
func (b *Backend) Clients(ctx context.Context, staleAfter time.Duration) ([]pgqueue.ClientInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	out := []pgqueue.ClientInfo{}
	for _, c := range b.clients {
		if now.Sub(c.LastSeen) > staleAfter {
			continue
		}
		c.Queues = maps.Clone(c.Queues)
		c.Periodic = slices.Clone(c.Periodic)
		out = append(out, c)
	}
	slices.SortFunc(out, func(x, y pgqueue.ClientInfo) int { return cmp.Compare(x.ID, y.ID) })
	return out, nil
}

// PeriodicJobs implements pgqueue.PeriodicLister: every periodic job's
// last enqueued tick and the next tick recorded with it, by name.
func (b *Backend) PeriodicJobs(ctx context.Context) ([]pgqueue.PeriodicInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	out := []pgqueue.PeriodicInfo{}
	for name, tick := range b.ticks {
		info := pgqueue.PeriodicInfo{Name: name, LastTick: tick.UTC()}
		if next := b.nextTicks[name]; !next.IsZero() {
			info.NextRun = next.UTC()
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(x, y pgqueue.PeriodicInfo) int { return cmp.Compare(x.Name, y.Name) })
	return out, nil
}
