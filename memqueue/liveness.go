package memqueue

// Liveness in one process: a client is alive while its KeepAlive runs.

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/pgqueue/pgqueue"
)

var _ pgqueue.LivenessKeeper = (*Backend)(nil)

// KeepAlive implements pgqueue.LivenessKeeper: client p.ClientID is alive
// from the call until ctx ends (or while any of several calls with its ID
// runs), when it returns nil. Nothing can break the binding but ctx, so it
// never calls p.Report. It returns an error wrapping
// pgqueue.ErrInvalidArgs at once for an empty p.ClientID.
func (b *Backend) KeepAlive(ctx context.Context, p pgqueue.LivenessParams) error {
	if p.ClientID == "" {
		return fmt.Errorf("%w: memqueue: KeepAlive needs a client ID", pgqueue.ErrInvalidArgs)
	}
	b.mu.Lock()
	b.live[p.ClientID]++
	b.mu.Unlock()
	if p.Bound != nil {
		p.Bound()
	}
	<-ctx.Done()
	b.mu.Lock()
	if b.live[p.ClientID]--; b.live[p.ClientID] <= 0 {
		delete(b.live, p.ClientID)
	}
	b.mu.Unlock()
	return nil
}

// Holders implements pgqueue.LivenessKeeper: the clients holding running
// jobs, and whether a KeepAlive of each runs now. It returns an error
// only when ctx is already done.
func (b *Backend) Holders(ctx context.Context) (map[string]bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]bool{}
	for _, j := range b.running {
		if j.claimedBy != "" {
			out[j.claimedBy] = b.live[j.claimedBy] > 0
		}
	}
	return out, nil
}

// RescueGone implements pgqueue.LivenessKeeper: the running jobs held by
// the clients in gone whose KeepAlive is not running, claimed more than
// minAge ago, are handled as Rescue handles expired leases (requeued at
// once, or dead-lettered with no attempts left, errInfo appended to their
// errors with the lost attempt). Calls are serialized by the Backend's
// lock, with each other and with Rescue. It returns an error only when
// ctx is already done.
func (b *Backend) RescueGone(ctx context.Context, gone []string, minAge time.Duration, errInfo pgqueue.AttemptError) (pgqueue.RescueResult, error) {
	if err := ctx.Err(); err != nil {
		return pgqueue.RescueResult{}, err
	}
	if len(gone) == 0 {
		return pgqueue.RescueResult{}, nil
	}
	return b.rescueWhere(errInfo, func(j *job, now time.Time) bool {
		return slices.Contains(gone, j.claimedBy) && b.live[j.claimedBy] == 0 && j.row.AttemptedAt.Before(now.Add(-minAge))
	}), nil
}
