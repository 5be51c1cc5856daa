package memqueue

import (
	"container/heap"
	"context"
	"fmt"
	"slices"

	"github.com/pgqueue/pgqueue"
)

var _ pgqueue.Canceller = (*Backend)(nil)

// CancelJob implements pgqueue.Canceller: the job, waiting or running,
// moves to the dead-letter store with a "cancelled" error. A running job's
// holder loses its lease and is told through Listen
// (pgqueue.CancelMessage). It returns pgqueue.ErrJobNotFound when the job
// is not waiting or running.
func (b *Backend) CancelJob(ctx context.Context, id int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	j, wasRunning := b.running[id], true
	if j == nil {
		wasRunning = false
		j = b.removeWaiting(id)
	}
	if j == nil {
		b.mu.Unlock()
		return fmt.Errorf("memqueue: cancel job %d: %w", id, pgqueue.ErrJobNotFound)
	}
	now := b.now()
	j.row.Errors = append(j.row.Errors, pgqueue.AttemptError{Attempt: j.row.Attempt, At: now.UTC(), Kind: "cancelled", Error: "cancelled"})
	b.running[id] = j // kill takes it from the running set
	b.kill(j, now)
	b.mu.Unlock()
	if wasRunning {
		b.notify([]string{pgqueue.CancelMessage(id)})
	}
	return nil
}

// removeWaiting takes the waiting job id out of the available or
// scheduled index, or returns nil. It walks the heaps: cancelling is rare
// and must not slow the claim path down. b.mu must be held.
func (b *Backend) removeWaiting(id int64) *job {
	for _, byKind := range b.available {
		for _, h := range byKind {
			if i := slices.IndexFunc(h.jobs, func(j *job) bool { return j.row.ID == id }); i >= 0 {
				return heap.Remove(h, i).(*job)
			}
		}
	}
	if i := slices.IndexFunc(b.scheduled.jobs, func(j *job) bool { return j.row.ID == id }); i >= 0 {
		return heap.Remove(b.scheduled, i).(*job)
	}
	if j := b.waiting[id]; j != nil {
		delete(b.waiting, id)
		return j
	}
	return nil
}
