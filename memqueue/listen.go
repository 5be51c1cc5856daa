package memqueue

import (
	"context"
	"errors"
	"sync"
)

// listener is one Listen call's mailbox. Wakes are coalesced into a set of
// queue names, so a slow listener costs the notifier one map insert and
// never blocks it, and no queue name is ever dropped.
type listener struct {
	mu      sync.Mutex
	pending map[string]struct{}
	signal  chan struct{} // capacity 1: "pending is non-empty"
}

func (l *listener) add(queues []string) {
	l.mu.Lock()
	for _, q := range queues {
		l.pending[q] = struct{}{}
	}
	l.mu.Unlock()
	select {
	case l.signal <- struct{}{}:
	default:
	}
}

func (l *listener) drain() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.pending) == 0 {
		return nil
	}
	out := make([]string, 0, len(l.pending))
	for q := range l.pending {
		out = append(out, q)
	}
	clear(l.pending)
	return out
}

// notify tells every current listener that jobs became available in
// queues. It never blocks on a listener.
func (b *Backend) notify(queues []string) {
	if len(queues) == 0 {
		return
	}
	b.lmu.Lock()
	defer b.lmu.Unlock()
	for l := range b.listeners {
		l.add(queues)
	}
}

// Listen blocks until ctx ends, calling wake with a queue's name after jobs
// became available in it: by Insert, Reschedule without delay, PromoteDue,
// Rescue or RequeueDead. Every concurrent Listen call (one per Client on a
// shared Backend) receives every wake-up. Wakes that arrive while wake is
// still running are coalesced to one call per queue, so a slow callback
// delays its own wake-ups but never the writers. wake runs on the calling
// goroutine, never with the Backend's lock held, so it may call back into
// the Backend. Listen never calls wake with "" (the in-memory store cannot
// miss a wake-up). It returns nil when ctx ends, and an error only when
// wake is nil.
func (b *Backend) Listen(ctx context.Context, wake func(queue string)) error {
	if wake == nil {
		return errors.New("memqueue: Listen: wake must not be nil")
	}
	l := &listener{pending: map[string]struct{}{}, signal: make(chan struct{}, 1)}
	b.lmu.Lock()
	b.listeners[l] = struct{}{}
	b.lmu.Unlock()
	defer func() {
		b.lmu.Lock()
		delete(b.listeners, l)
		b.lmu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-l.signal:
		}
		for _, q := range l.drain() {
			if ctx.Err() != nil {
				return nil
			}
			wake(q)
		}
	}
}
