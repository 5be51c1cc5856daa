package memqueue

import (
	"context"

	"github.com/pgqueue/pgqueue"
)

var _ pgqueue.QueuePauser = (*Backend)(nil)

// PauseQueue implements pgqueue.QueuePauser: Claim takes nothing from a
// paused queue, for any Client sharing this Backend.
func (b *Backend) PauseQueue(ctx context.Context, queue string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	b.paused[queue] = true
	b.mu.Unlock()
	return nil
}

// ResumeQueue implements pgqueue.QueuePauser and wakes the queue's
// listeners.
func (b *Backend) ResumeQueue(ctx context.Context, queue string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	b.mu.Lock()
	was := b.paused[queue]
	delete(b.paused, queue)
	b.mu.Unlock()
	if was {
		b.notify([]string{queue})
	}
	return was, nil
}
